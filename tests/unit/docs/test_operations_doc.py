from pathlib import Path

from newsflow.config_reference import env_names, splice
from services.enrich.settings import EnrichSettings
from services.ingest.settings import IngestSettings
from services.publish.settings import PublishSettings

DOC = Path(__file__).resolve().parents[3] / "docs" / "operations.md"


def test_configuration_reference_in_runbook_matches_the_settings_classes() -> None:
    text = DOC.read_text()
    assert splice(text) == text, "docs/operations.md is stale: run python -m newsflow.config_reference"


def test_every_setting_appears_in_the_runbook() -> None:
    text = DOC.read_text()
    for cls in (IngestSettings, EnrichSettings, PublishSettings):
        for var, *_ in env_names(cls):
            assert f"`{var}`" in text

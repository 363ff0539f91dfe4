"""The configuration reference in docs/operations.md, generated from the settings classes."""

from __future__ import annotations

from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from services.enrich.settings import EnrichSettings
from services.ingest.settings import IngestSettings
from services.publish.settings import PublishSettings

BEGIN = "<!-- BEGIN GENERATED: configuration reference (newsflow config-reference) -->"
END = "<!-- END GENERATED -->"


def env_names(settings_cls: type[BaseSettings]) -> list[tuple[str, str, str, str]]:
    """(variable, type, default, description) for every field of a settings class."""
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    rows = []
    for name, field in settings_cls.model_fields.items():
        alias = field.validation_alias
        var = str(alias.choices[0]) if isinstance(alias, AliasChoices) else f"{prefix}{name}".upper()
        annotation = getattr(field.annotation, "__name__", None) or str(field.annotation)
        annotation = annotation.replace("typing.", "").replace("pydantic.types.", "")
        default = "" if field.is_required() else repr(field.default)
        if "Secret" in annotation:
            default = "(none: secret)" if field.default is None else "***"
        rows.append((var, annotation, default, field.description or ""))
    return rows


def render() -> str:
    lines = [BEGIN]
    shared_vars: set[str] = set()
    for title, cls in (("ingest", IngestSettings), ("enrich", EnrichSettings), ("publish", PublishSettings)):
        lines += [
            "",
            f"### {title}",
            "",
            "| variable | type | default | meaning |",
            "| --- | --- | --- | --- |",
        ]
        for var, annotation, default, description in env_names(cls):
            if not var.startswith("NEWSFLOW_" + title.upper()):
                if var in shared_vars:
                    continue
                shared_vars.add(var)
            text = description.replace("|", "\\|")
            lines.append(f"| `{var}` | {annotation.replace('|', 'or')} | `{default}` | {text} |")
    lines += ["", END]
    return "\n".join(lines)


def splice(document: str) -> str:
    """`document` with its generated block replaced by a fresh one."""
    start, end = document.index(BEGIN), document.index(END) + len(END)
    return document[:start] + render() + document[end:]


if __name__ == "__main__":
    import sys
    from pathlib import Path

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/operations.md")
    target.write_text(splice(target.read_text()))

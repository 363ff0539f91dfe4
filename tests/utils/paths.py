"""Where the reference material beside the repository lives (`../shared`)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO.parent / "shared"
SEED = REFERENCE / "seed" / "000_dc2421d5b62a3952.txt"
NINJS_SPEC = REFERENCE / "spec" / "ninjs"
DEV_SET = REFERENCE / "eval" / "conll2003_validation_docs.jsonl"

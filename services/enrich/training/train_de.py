"""Train the German NER pipeline shipped in services/enrich/models/de_newsflow_ner (`make train-de`).

Reads WikiANN German (`index<TAB>token<TAB>IOB2` lines, a blank line between sentences), writes
spaCy DocBins and a config into a build directory (never committed), trains a small CNN pipeline
without vectors with a fixed seed, and copies the best pipeline into the repository.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import spacy
from spacy.cli.init_config import init_config
from spacy.cli.train import train
from spacy.tokens import Doc, DocBin
from spacy.training import iob_to_biluo, tags_to_entities

REPO = Path(__file__).resolve().parents[3]
DATA = REPO.parent / "shared" / "train"
MODEL_DIR = REPO / "services" / "enrich" / "models" / "de_newsflow_ner"

SEED = 20260
# 3,000 steps with batches growing from 100 to 1,000 words is about ten passes over the 20,000
# training sentences: about 15 minutes on 2 busy cores; the best checkpoint on the dev file is kept.
MAX_STEPS = 3000
EVAL_FREQUENCY = 250
PATIENCE = 1500
DROPOUT = 0.15
META = {
    "name": "newsflow_ner",
    "version": "1.0.0",
    "description": "German NER (PER, ORG, LOC) for newsflow: a CNN without vectors, trained on WikiANN.",
    "license": "CC BY-SA (trained on WikiANN, derived from Wikipedia; see MODEL_CARD.md)",
    "author": "newsflow",
}


def read_conll(path: Path) -> Iterator[tuple[list[str], list[str]]]:
    """(tokens, IOB2 tags) per sentence of a tab-separated file."""
    tokens: list[str] = []
    tags: list[str] = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            line = line.rstrip("\n")
            if not line.strip():
                if tokens:
                    yield tokens, tags
                tokens, tags = [], []
                continue
            _, token, tag = line.split("\t")
            tokens.append(token)
            tags.append(tag)
    if tokens:
        yield tokens, tags


def to_docbin(path: Path) -> DocBin:
    """One Doc per sentence, entities from the IOB2 tags."""
    vocab = spacy.blank("de").vocab
    docbin = DocBin(store_user_data=False)
    for tokens, tags in read_conll(path):
        doc = Doc(vocab, words=tokens)
        spans = [
            doc.char_span(doc[start].idx, doc[end].idx + len(doc[end]), label=label)
            for label, start, end in tags_to_entities(iob_to_biluo(tags))
        ]
        doc.ents = [span for span in spans if span is not None]
        docbin.add(doc)
    return docbin


def write_config(path: Path, train_path: Path, dev_path: Path, max_steps: int = MAX_STEPS) -> None:
    """spaCy's efficiency NER config for German, with our steps, dropout, seed and no vectors."""
    config = init_config(lang="de", pipeline=["ner"], optimize="efficiency", gpu=False)
    config["paths"]["train"] = str(train_path)
    config["paths"]["dev"] = str(dev_path)
    config["system"]["seed"] = SEED
    training = config["training"]
    training["max_steps"] = max_steps
    training["eval_frequency"] = EVAL_FREQUENCY
    training["patience"] = PATIENCE
    training["dropout"] = DROPOUT
    config["components"]["tok2vec"]["model"]["embed"]["include_static_vectors"] = False
    config.to_disk(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DATA, help="folder with wikiann-de-{train,val}.conllu")
    parser.add_argument("--build", type=Path, default=REPO / "build" / "train-de", help="scratch folder")
    parser.add_argument("--out", type=Path, default=MODEL_DIR, help="where the best pipeline is copied")
    parser.add_argument("--max-steps", type=int, default=MAX_STEPS, help="training steps")
    args = parser.parse_args(argv)

    build: Path = args.build
    build.mkdir(parents=True, exist_ok=True)
    train_path, dev_path = build / "train.spacy", build / "dev.spacy"
    to_docbin(args.data / "wikiann-de-train.conllu").to_disk(train_path)
    to_docbin(args.data / "wikiann-de-val.conllu").to_disk(dev_path)
    config_path = build / "config.cfg"
    write_config(config_path, train_path, dev_path, args.max_steps)

    started = time.perf_counter()
    train(config_path, build / "output")
    print(f"training took {time.perf_counter() - started:.0f} s")

    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(build / "output" / "model-best", out)
    write_meta(out)
    print(f"best pipeline copied to {out}")


def write_meta(model: Path) -> None:
    """Our name, version and licence in the pipeline's meta.json (spaCy writes placeholders)."""
    path = model / "meta.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta.update(META)
    path.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

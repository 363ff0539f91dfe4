"""An evaluation set for the same-story decision, generated at eval time, and its scores.

Nothing here is stored: pairs are made from the texts given (the bundled samples and the dev
sets beside the repository) with a fixed seed, so every run sees the same set.
- Positives: a text and a copy with the edits republishers make: a rewritten lead, a trimmed
  ending, a changed or cut quote, a few word swaps, a credit line added; two or three at once.
- Negatives: a text and the other text sharing most of its vocabulary (same topic: two football
  results pages, two market reports), and a text and a random other one.
The decision is the production one (`same_story.decide`): a shared LSH band and an estimated
similarity at or above the threshold.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from services.enrich.same_story import band_hashes, body_signature, similarity

SEED: Final = 15
MIN_WORDS: Final = 80  # shorter texts are briefs: too little to republish with edits
CREDITS: Final = (
    "Reporting by staff; editing by the news desk.",
    "This article was first published by a partner agency.",
    "Additional reporting by our correspondents.",
)
SWAPS: Final = {"said": "stated", "told": "informed", "on": "on", "percent": "per cent", "about": "around"}
LEADS: Final = (
    "In a development reported on {day},",
    "Officials confirmed on {day} that",
    "According to reports on {day},",
)
DAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")

_SENTENCE: Final = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“])")


def sentences(text: str) -> list[str]:
    """Lines when the text has them (the CoNLL layout: one sentence a line), else sentences."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > 3:
        return lines
    return [s for s in _SENTENCE.split(" ".join(lines)) if s.strip()]


Edit = Callable[[list[str], random.Random, Sequence[list[str]]], list[str]]


def rewrite_lead(sents: list[str], rng: random.Random, others: Sequence[list[str]]) -> list[str]:
    """The first sentence rewritten: a new opening, half its words kept in a new order."""
    words = sents[0].split()
    kept = [w for w in words if rng.random() < 0.5]
    cut = rng.randrange(1, max(len(kept), 2))
    lead = rng.choice(LEADS).format(day=rng.choice(DAYS))
    return [" ".join([lead, *kept[cut:], *kept[:cut]]), *sents[1:]]


def trim_ending(sents: list[str], rng: random.Random, others: Sequence[list[str]]) -> list[str]:
    keep = max(3, round(len(sents) * rng.uniform(0.6, 0.85)))
    return sents[:keep]


def change_quotes(sents: list[str], rng: random.Random, others: Sequence[list[str]]) -> list[str]:
    """A quoted or reported sentence or two replaced by one from another text, or cut."""
    out = list(sents)
    quoted = [i for i, s in enumerate(out) if '"' in s or "“" in s or " said" in s] or list(
        range(1, len(out))
    )
    for i in rng.sample(quoted, k=min(2, len(quoted))):
        donor = rng.choice(others)
        out[i] = rng.choice(donor) if rng.random() < 0.6 else ""
    return [s for s in out if s]


def swap_words(sents: list[str], rng: random.Random, others: Sequence[list[str]]) -> list[str]:
    def swap(word: str) -> str:
        if word in SWAPS:
            return SWAPS[word]
        if word.isdigit() and rng.random() < 0.3:
            return str(int(word) + 1)
        return word

    return [" ".join(swap(w) for w in s.split()) for s in sents]


def add_credit(sents: list[str], rng: random.Random, others: Sequence[list[str]]) -> list[str]:
    return [*sents, rng.choice(CREDITS)]


EDITS: Final[tuple[Edit, ...]] = (rewrite_lead, trim_ending, change_quotes, swap_words, add_credit)


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    same: bool
    kind: str


def _vocabulary(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]{4,}", text.casefold())}


def make_pairs(texts: Iterable[str], seed: int = SEED) -> list[Pair]:
    rng = random.Random(seed)
    docs = [sentences(t) for t in texts]
    docs = [d for d in docs if sum(len(s.split()) for s in d) >= MIN_WORDS and len(d) >= 4]
    vocab = [_vocabulary(" ".join(d)) for d in docs]
    pairs: list[Pair] = []
    for i, doc in enumerate(docs):
        others = [d for j, d in enumerate(docs) if j != i]
        edits = rng.sample(EDITS, k=rng.choice((2, 3)))
        copy = list(doc)
        for edit in sorted(edits, key=EDITS.index):
            copy = edit(copy, rng, others)
        original = "\n".join(doc)
        pairs.append(Pair(original, "\n".join(copy), True, "+".join(e.__name__ for e in edits)))
        nearest = max(
            (j for j in range(len(docs)) if j != i),
            key=lambda j: len(vocab[i] & vocab[j]) / max(len(vocab[i] | vocab[j]), 1),
        )
        pairs.append(Pair(original, "\n".join(docs[nearest]), False, "same-topic"))
        pairs.append(Pair(original, "\n".join(rng.choice(others)), False, "random"))
    return pairs


def decide(a: np.ndarray, b: np.ndarray, threshold: float) -> bool:
    """The index's decision: a candidate (one band in common), then the estimate."""
    shared_band = any(x == y for x, y in zip(band_hashes(a), band_hashes(b), strict=True))
    return shared_band and similarity(a, b) >= threshold


@dataclass(frozen=True)
class Scores:
    threshold: float
    precision: float
    recall: float
    true_pos: int
    false_pos: int
    false_neg: int

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def _signatures(pairs: Sequence[Pair]) -> dict[str, np.ndarray | None]:
    return {text: body_signature(text) for pair in pairs for text in (pair.a, pair.b)}


def score(
    pairs: Sequence[Pair], threshold: float, sigs: dict[str, np.ndarray | None] | None = None
) -> Scores:
    sigs = sigs if sigs is not None else _signatures(pairs)
    tp = fp = fn = 0
    for pair in pairs:
        a, b = sigs[pair.a], sigs[pair.b]
        said = a is not None and b is not None and decide(a, b, threshold)
        tp += said and pair.same
        fp += said and not pair.same
        fn += (not said) and pair.same
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return Scores(threshold, precision, recall, tp, fp, fn)


def sweep(pairs: Sequence[Pair], thresholds: Iterable[float]) -> list[Scores]:
    sigs = _signatures(pairs)
    return [score(pairs, t, sigs) for t in thresholds]


def best_threshold(rows: Sequence[Scores]) -> Scores:
    """Highest F1; among equals the highest threshold (fewer false merges of distinct stories)."""
    return max(rows, key=lambda r: (round(r.f1, 4), r.threshold))


def texts_from(paths: Iterable[Path]) -> list[str]:
    """Texts of JSONL dev sets (`text` of each record) and of sample files (plain text bodies;
    JSON and NDJSON samples by their `body`)."""
    out: list[str] = []
    for path in paths:
        if path.suffix in (".jsonl", ".ndjson"):
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    record = json.loads(line)
                    text = record.get("text") or record.get("body")
                    if isinstance(text, str):
                        out.append(text)
        elif path.suffix == ".json":
            body = json.loads(path.read_text(encoding="utf-8")).get("body")
            if isinstance(body, str):
                out.append(body)
        elif path.suffix == ".txt":
            out.append(path.read_text(encoding="utf-8"))
    return out


THRESHOLDS: Final = tuple(round(0.05 * i, 2) for i in range(2, 19))


def report(pairs: Sequence[Pair], chosen: float) -> str:
    rows = sweep(pairs, THRESHOLDS)
    best = best_threshold(rows)
    at = score(pairs, chosen)
    positives = sum(p.same for p in pairs)
    lines = [
        f"same-story pairs: {len(pairs)} ({positives} copies with edits, "
        f"{len(pairs) - positives} different stories)",
        "threshold  precision  recall  F1",
        *(f"{r.threshold:9.2f}  {r.precision:9.3f}  {r.recall:6.3f}  {r.f1:.3f}" for r in rows),
        f"best F1 at threshold {best.threshold:.2f}",
        f"configured threshold {chosen:.2f}: precision {at.precision:.3f} recall {at.recall:.3f} "
        f"(tp {at.true_pos}, fp {at.false_pos}, fn {at.false_neg})",
    ]
    return "\n".join(lines)

"""Tagging quality on a labelled set: mention- and document-level precision, recall and F1.

The data set is JSON lines of `{"doc_id", "text", "entities": [{"start", "end", "text",
"label"}]}` with CoNLL labels, and optionally `"language"` (ISO 639-1; English when absent): each
document is tagged by its language's pipeline. PER, ORG and LOC are scored; MISC is not (its boundaries are
a matter of style). Mention level: exact span and label. Document level: the set of distinct
normalised names per label per document, which is what a reader of the tags sees.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict

from services.enrich.languages import OWN_PIPELINES, language_code
from services.enrich.logic import Tagger
from services.enrich.multilingual import DEFAULT_LANGUAGE, MultilingualTagger

SCORED_LABELS = ("PER", "ORG", "LOC")


class Scores(BaseModel):
    model_config = ConfigDict(frozen=True)

    p: float
    r: float
    f1: float


class LabelScores(BaseModel):
    model_config = ConfigDict(frozen=True)

    mention: Scores
    document: Scores


class EvalReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    tagger: str
    raw: bool
    docs: int
    seconds: float  # wall-clock time of tagging alone (loading and scoring excluded)
    cpu_seconds: float  # this process's CPU time for the same: steadier on a shared machine
    docs_per_s: float  # from `seconds`
    mention: Scores
    document: Scores
    per_label: dict[str, LabelScores]

    @property
    def mention_f1(self) -> float:
        return self.mention.f1

    @property
    def document_f1(self) -> float:
        return self.document.f1

    def to_json(self) -> dict[str, Any]:
        return {
            "tagger": self.tagger,
            "raw": self.raw,
            "docs": self.docs,
            "seconds": self.seconds,
            "cpu_seconds": self.cpu_seconds,
            "docs_per_s": self.docs_per_s,
            "mention_f1": self.mention.f1,
            "document_f1": self.document.f1,
            "mention": self.mention.model_dump(),
            "document": self.document.model_dump(),
            "per_label": {label: s.model_dump() for label, s in self.per_label.items()},
        }


class _Counts:
    __slots__ = ("fn", "fp", "tp")

    def __init__(self) -> None:
        self.tp = self.fp = self.fn = 0

    def add(self, gold: set[Any], predicted: set[Any]) -> None:
        self.tp += len(gold & predicted)
        self.fp += len(predicted - gold)
        self.fn += len(gold - predicted)

    def scores(self) -> Scores:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        return Scores(p=round(p, 4), r=round(r, 4), f1=round(f1, 4))


def normalise_name(text: str) -> str:
    """One spelling per name for document-level scoring: case, spacing and 'the' ignored."""
    return re.sub(r"\s+", " ", text).strip().casefold().removeprefix("the ")


def load_dataset(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as lines:
        return [orjson.loads(line) for line in lines if line.strip()]


def score(
    docs: Sequence[Mapping[str, Any]], predictions: Sequence[Iterable[tuple[int, int, str]]]
) -> tuple[Scores, Scores, dict[str, LabelScores]]:
    """(mention scores, document scores, per-label scores) of predictions against the docs."""
    mention = {label: _Counts() for label in SCORED_LABELS}
    document = {label: _Counts() for label in SCORED_LABELS}
    for doc, predicted in zip(docs, predictions, strict=True):
        text: str = doc["text"]
        gold = {(e["start"], e["end"], e["label"]) for e in doc["entities"]}
        ours = set(predicted)
        for label in SCORED_LABELS:
            gold_spans = {s for s in gold if s[2] == label}
            our_spans = {s for s in ours if s[2] == label}
            mention[label].add(gold_spans, our_spans)
            document[label].add(
                {normalise_name(text[s:e]) for s, e, _ in gold_spans},
                {normalise_name(text[s:e]) for s, e, _ in our_spans},
            )
    mention_all, document_all = _Counts(), _Counts()
    for label in SCORED_LABELS:
        for total, part in ((mention_all, mention[label]), (document_all, document[label])):
            total.tp += part.tp
            total.fp += part.fp
            total.fn += part.fn
    per_label = {
        label: LabelScores(mention=mention[label].scores(), document=document[label].scores())
        for label in SCORED_LABELS
    }
    return mention_all.scores(), document_all.scores(), per_label


def dataset_languages(docs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each document's language code; English when the record has none."""
    return [language_code(doc.get("language")) or DEFAULT_LANGUAGE for doc in docs]


def has_raw_model(docs: Sequence[Mapping[str, Any]]) -> bool:
    """Whether every document's pipeline is a published model (ours for German is not)."""
    return not set(dataset_languages(docs)) & OWN_PIPELINES


def run_eval(
    dataset: Path, tagger: Tagger | MultilingualTagger, *, raw: bool, predictions: Path | None = None
) -> EvalReport:
    """Tag every document of `dataset` and score it; `predictions` gets the spans as JSON lines.

    raw=True scores the plain model, raw=False the resolved entities (see `Tagger.tag_texts`).
    A plain `Tagger` is English only.
    """
    if isinstance(tagger, Tagger):
        tagger = MultilingualTagger([DEFAULT_LANGUAGE], gazetteer=tagger.gazetteer, loaded={"en": tagger})
    docs = load_dataset(dataset)
    texts = [doc["text"] for doc in docs]
    languages = dataset_languages(docs)
    # Warm-up (loads each language's model): first-call allocations are not throughput.
    for language in dict.fromkeys(languages):
        first = languages.index(language)
        tagger.tag_texts(texts[first : first + 1], raw=raw, languages=[language])
    started, cpu_started = time.perf_counter(), time.process_time()
    predicted = tagger.tag_texts(texts, raw=raw, languages=languages)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    mention, document, per_label = score(docs, predicted)
    if predictions is not None:
        _write_predictions(predictions, docs, predicted)
    name = " + ".join(dict.fromkeys(tagger.name_for(language) for language in languages))
    return EvalReport(
        tagger=name if not raw else f"{name.split('+')[0]} (raw)",
        raw=raw,
        docs=len(docs),
        seconds=round(seconds, 3),
        cpu_seconds=round(cpu_seconds, 3),
        docs_per_s=round(len(docs) / seconds, 2) if seconds else 0.0,
        mention=mention,
        document=document,
        per_label=per_label,
    )


def _write_predictions(
    path: Path, docs: Sequence[Mapping[str, Any]], predicted: Sequence[Sequence[tuple[int, int, str]]]
) -> None:
    with path.open("wb") as out:
        for doc, spans in zip(docs, predicted, strict=True):
            entities = [
                {"start": s, "end": e, "text": doc["text"][s:e], "label": label} for s, e, label in spans
            ]
            out.write(orjson.dumps({"doc_id": doc["doc_id"], "entities": entities}) + b"\n")


def format_reports(reports: Mapping[str, EvalReport]) -> str:
    """Reports side by side; differences and docs/s ratios are against the first report."""
    names = list(reports)
    if not names:
        return ""
    first = reports[names[0]]
    rows: list[tuple[str, list[str]]] = [
        ("document F1", [f"{r.document.f1:.3f}" for r in reports.values()]),
        ("document P / R", [f"{r.document.p:.3f} / {r.document.r:.3f}" for r in reports.values()]),
        ("mention F1", [f"{r.mention.f1:.3f}" for r in reports.values()]),
        ("mention P / R", [f"{r.mention.p:.3f} / {r.mention.r:.3f}" for r in reports.values()]),
    ]
    rows.extend(
        (
            f"{label} doc / mention F1",
            [
                f"{r.per_label[label].document.f1:.3f} / {r.per_label[label].mention.f1:.3f}"
                for r in reports.values()
            ],
        )
        for label in SCORED_LABELS
    )
    rows.append(
        (
            f"document F1 vs {names[0]}",
            [f"{r.document.f1 - first.document.f1:+.3f}" for r in reports.values()],
        )
    )
    rows.append(("docs", [str(r.docs) for r in reports.values()]))
    rows.append(("docs/s", [f"{r.docs_per_s:.1f}" for r in reports.values()]))
    rows.append((f"docs/s vs {names[0]}", [_ratio(r.seconds, first.seconds) for r in reports.values()]))
    rows.append(
        (f"CPU docs/s vs {names[0]}", [_ratio(r.cpu_seconds, first.cpu_seconds) for r in reports.values()])
    )
    head_width = max(len(label) for label, _ in rows)
    widths = [max(len(name), *(len(cells[i]) for _, cells in rows)) for i, name in enumerate(names)]
    lines = [" " * head_width + "  " + "  ".join(n.rjust(w) for n, w in zip(names, widths, strict=True))]
    lines.extend(
        label.ljust(head_width) + "  " + "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))
        for label, cells in rows
    )
    return "\n".join(lines)


def _ratio(seconds: float, first_seconds: float) -> str:
    """Throughput relative to the first report, for the same documents."""
    return f"{first_seconds / seconds:.2f}x" if seconds else "-"

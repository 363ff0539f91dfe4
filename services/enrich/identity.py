"""Cross-document identity quality: B-cubed precision, recall and F1 of entity ids over gold mentions.

Each gold mention (a span with the URI of its real-world entity) gets the entity id of the
predicted mention that overlaps it (the one overlapping most characters, then the earliest); a
gold mention no predicted mention overlaps gets an id of its own, so a miss counts as a wrong
cluster (it lowers recall when its entity has other mentions). B-cubed (Bagga and Baldwin 1998):
for each mention, precision is the share of its predicted cluster with its gold entity and
recall the share of its gold entity in its predicted cluster; both are averaged over mentions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# (start, end, entity id) of a predicted mention; (start, end, uri) of a gold one.
Span = tuple[int, int, str]


@dataclass(frozen=True)
class BCubed:
    precision: float
    recall: float
    f1: float
    mentions: int
    missed: int  # gold mentions no predicted mention overlapped


def assign_ids(gold: Sequence[Span], predicted: Sequence[Span], *, doc_id: str) -> list[str]:
    """Our id for each gold mention, in order; `missed:<doc>:<i>` when nothing overlaps it."""
    out = []
    for i, (start, end, _) in enumerate(gold):
        overlapping = [
            (min(end, p_end) - max(start, p_start), -p_start, entity_id)
            for p_start, p_end, entity_id in predicted
            if p_start < end and start < p_end
        ]
        out.append(max(overlapping)[2] if overlapping else f"missed:{doc_id}:{i}")
    return out


def b_cubed(gold_ids: Sequence[str], predicted_ids: Sequence[str]) -> BCubed:
    """B-cubed over mentions given as parallel lists of gold and predicted cluster ids."""
    if len(gold_ids) != len(predicted_ids):
        raise ValueError("one predicted id per gold mention")
    if not gold_ids:
        return BCubed(0.0, 0.0, 0.0, 0, 0)
    by_gold: dict[str, set[int]] = defaultdict(set)
    by_pred: dict[str, set[int]] = defaultdict(set)
    for i, (g, p) in enumerate(zip(gold_ids, predicted_ids, strict=True)):
        by_gold[g].add(i)
        by_pred[p].add(i)
    precision = recall = 0.0
    for g, p in zip(gold_ids, predicted_ids, strict=True):
        both = len(by_gold[g] & by_pred[p])
        precision += both / len(by_pred[p])
        recall += both / len(by_gold[g])
    n = len(gold_ids)
    precision, recall = precision / n, recall / n
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    missed = sum(p.startswith("missed:") for p in predicted_ids)
    return BCubed(round(precision, 4), round(recall, 4), round(f1, 4), n, missed)


def score_documents(
    gold_docs: Iterable[Mapping[str, Any]], tagged: Mapping[str, Mapping[str, Any]]
) -> BCubed:
    """Gold records `{"doc_id", "mentions": [{"start", "end", "uri"}]}` against `newsflow tag`
    output records by doc id (`{"entities": [{"id", "mentions": [{"start", "end"}]}]}`)."""
    gold_ids: list[str] = []
    predicted_ids: list[str] = []
    for doc in gold_docs:
        gold = [(m["start"], m["end"], m["uri"]) for m in doc["mentions"]]
        out = tagged.get(doc["doc_id"], {})
        predicted = [
            (m["start"], m["end"], e["id"]) for e in out.get("entities", []) for m in e.get("mentions", [])
        ]
        gold_ids += [uri for _, _, uri in gold]
        predicted_ids += assign_ids(gold, predicted, doc_id=doc["doc_id"])
    return b_cubed(gold_ids, predicted_ids)

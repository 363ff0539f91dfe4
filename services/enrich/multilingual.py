"""One tagger per language: each article is tagged by the pipeline of its language.

The language is the article's `language` (sent upstream or detected by ingest). Pipelines load
lazily, once per process, and only for the languages the replica serves, so a replica that only
ever sees English articles holds only the English model. An article in a language with no
pipeline here is still tagged: places and the house gazetteer's names are found through the
knowledge base alone, and its `tagger` note says so.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import spacy

from services.enrich.identifiers import CITY_PRIOR_POPULATION
from services.enrich.knowledge import KnowledgeBase
from services.enrich.languages import PIPELINES, RULES, language_code
from services.enrich.logic import (
    RESOLVE_VERSION,
    RULER,
    EvalSpan,
    Tagger,
    _with_caption,
    build_entities,
    eval_spans,
)
from services.enrich.resolution import Candidate, resolve
from shared.events import Entities, RawArticle

DEFAULT_LANGUAGE = "en"
KNOWLEDGE_BASE_TAGGER = "knowledge-base"
# A run of capitalised words that may be a place name ("Buenos Aires", "Nueva York").
_CAPITALISED_RUN = re.compile(r"(?<![\w'’-])[^\W\d_][\w'’.-]*(?:[ \t]+[^\W\d_][\w'’.-]*){0,3}")
# Longest place name tried in a run, in words.
_PLACE_WORDS = 3


class MultilingualTagger:
    """Tags each article with its language's pipeline; see the module docstring."""

    def __init__(
        self,
        languages: Iterable[str] = (DEFAULT_LANGUAGE,),
        *,
        english_model: str = PIPELINES[DEFAULT_LANGUAGE],
        gazetteer: KnowledgeBase | None = None,
        pipelines: Mapping[str, str] | None = None,
        loaded: Mapping[str, Tagger] | None = None,
        default_language: str = DEFAULT_LANGUAGE,
    ) -> None:
        """`languages` are those this replica serves; `loaded` are taggers already built."""
        self.languages = tuple(dict.fromkeys(languages))
        self.default_language = default_language
        self.gazetteer = gazetteer if gazetteer is not None else KnowledgeBase.default()
        self._pipelines = {**PIPELINES, **(pipelines or {}), DEFAULT_LANGUAGE: english_model}
        self._taggers: dict[str, Tagger] = dict(loaded or {})
        self._lock = threading.Lock()
        self._ruler_nlp: Any = None

    @property
    def loaded_languages(self) -> tuple[str, ...]:
        return tuple(self._taggers)

    def language_of(self, article: RawArticle) -> str:
        return language_code(article.language) or self.default_language

    def serves(self, language: str) -> bool:
        return language in self.languages and language in self._pipelines

    def tagger(self, language: str) -> Tagger | None:
        """The language's tagger, loaded on first use; None when this replica has none for it."""
        if not self.serves(language):
            return None
        found = self._taggers.get(language)
        if found is not None:
            return found
        with self._lock:  # tagging runs in worker threads: load each model once
            found = self._taggers.get(language)
            if found is None:
                found = Tagger(self._pipelines[language], gazetteer=self.gazetteer, rules=RULES.get(language))
                self._taggers[language] = found
            return found

    def name_for(self, language: str) -> str:
        """What the enrichment's `tagger` says for an article in `language`."""
        tagger = self.tagger(language)
        if tagger is not None:
            return tagger.name
        return (
            f"{KNOWLEDGE_BASE_TAGGER}+resolve-{RESOLVE_VERSION} (no '{language}' pipeline on this replica: "
            "places and house gazetteer names only)"
        )

    @property
    def name(self) -> str:
        return self.name_for(self.default_language)

    def tag(self, articles: Sequence[RawArticle], *, batch_size: int = 32) -> list[Entities]:
        """The entities of each article, each tagged by its language's pipeline."""
        out: list[Entities | None] = [None] * len(articles)
        for language, indexes in _by_language([self.language_of(a) for a in articles]).items():
            group = [articles[i] for i in indexes]
            tagger = self.tagger(language)
            found = (
                tagger.tag(group, batch_size=batch_size)
                if tagger is not None
                else [self._knowledge_base_entities(article) for article in group]
            )
            for i, entities in zip(indexes, found, strict=True):
                out[i] = entities
        return [entities if entities is not None else Entities() for entities in out]

    def tag_texts(
        self,
        texts: Sequence[str],
        *,
        raw: bool = False,
        languages: Sequence[str | None] | None = None,
        batch_size: int = 32,
    ) -> list[list[EvalSpan]]:
        """Evaluation spans of each text (see `Tagger.tag_texts`), by each text's language."""
        codes = [language_code(lang) or self.default_language for lang in languages or [None] * len(texts)]
        out: list[list[EvalSpan]] = [[] for _ in texts]
        for language, indexes in _by_language(codes).items():
            group = [texts[i] for i in indexes]
            tagger = self.tagger(language)
            if tagger is not None:
                found = tagger.tag_texts(group, raw=raw, batch_size=batch_size)
            else:
                found = [eval_spans(self._knowledge_base_resolved(text)) for text in group]
            for i, spans in zip(indexes, found, strict=True):
                out[i] = spans
        return out

    # Knowledge base only -------------------------------------------------------------------

    def _knowledge_base_entities(self, article: RawArticle) -> Entities:
        text = _with_caption(article)
        return build_entities(
            text, article.title, self._knowledge_base_resolved(text), body_length=len(article.body)
        )

    def _knowledge_base_resolved(self, text: str) -> list[Any]:
        return resolve(
            text,
            self._knowledge_base_candidates(text),
            places=self.gazetteer.places,
            gazetteer=self.gazetteer,
        )

    def _knowledge_base_candidates(self, text: str) -> list[Candidate]:
        """House gazetteer names, then known places among the capitalised words."""
        found = [
            Candidate(ent.start_char, ent.end_char, ent.label_, ent.ent_id_ or None)
            for ent in self._ruler()(text).ents
        ]
        taken = [(c.start, c.end) for c in found]
        for run in _CAPITALISED_RUN.finditer(text):
            words = list(re.finditer(r"\S+", run.group()))
            i = 0
            while i < len(words):
                for size in range(min(_PLACE_WORDS, len(words) - i), 0, -1):
                    start = run.start() + words[i].start()
                    end = run.start() + words[i + size - 1].end()
                    name = text[start:end].rstrip(".")
                    end = start + len(name)
                    free = not any(s < end and start < e for s, e in taken)
                    if free and self._is_known_place(name):
                        found.append(Candidate(start, end, "GPE"))
                        taken.append((start, end))
                        i += size
                        break
                else:
                    i += 1
        return sorted(found, key=lambda c: c.start)

    def _is_known_place(self, name: str) -> bool:
        """A house place, a country, continent or US state, or a city of CITY_PRIOR_POPULATION."""
        place = self.gazetteer.places.lookup(name)
        if place is None:
            return False
        return place.kind != "city" or place.population >= CITY_PRIOR_POPULATION

    def _ruler(self) -> Any:
        """A language-neutral tokenizer with the gazetteer's entity ruler (no model)."""
        with self._lock:
            if self._ruler_nlp is None:
                nlp = spacy.blank("xx")
                patterns = self.gazetteer.ruler_patterns()
                if patterns:
                    ruler: Any = nlp.add_pipe("entity_ruler", name=RULER)
                    ruler.add_patterns(patterns)
                self._ruler_nlp = nlp
            return self._ruler_nlp


def _by_language(codes: Sequence[str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, code in enumerate(codes):
        groups.setdefault(code, []).append(i)
    return groups

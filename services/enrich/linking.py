"""Linking an article's entities to the entity registry: pure functions, no Redis.

`lookup_keys` says which registry index keys may hold candidates for an entity; `decide` scores
the candidates the registry returned and picks one, or says a new entity is needed. Scores are
confidences in 0..1: how the names match (identifier, exact name, alias, acronym, surname, similar
spelling), times how compatible the types are, plus a bonus for the entities the article shares
with the candidate's past articles. Below `LINK_THRESHOLD` a new entity is made: a duplicate can
be merged later, a wrong merge silently corrupts every topic page built on it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from shared.events import Entity, EntityType, Identifiers

# At or above this confidence an entity links to a candidate; below it a new entity is made.
LINK_THRESHOLD: Final = 0.75
# Name-match scores before the type factor and the context bonus.
SCORE_IDENTIFIER: Final = 1.0  # the same GeoNames id, ISO code, Wikidata QID or URI
SCORE_NAME: Final = 1.0  # the candidate's canonical name, normalised
SCORE_ALIAS: Final = 0.95  # one of the candidate's other names
SCORE_ACRONYM: Final = 0.85  # "NYSE" for "New York Stock Exchange", either way round
SCORE_SURNAME: Final = 0.85  # "Shoigu" for "Sergei Shoigu", only when one candidate has it
# "Sergei Shoigu" for an entity only ever called "Shoigu": that bare surname could have been anyone
# of the name, so it takes shared context to link.
SCORE_BARE_SURNAME: Final = 0.7
# Similar spellings: Jaro-Winkler of at least SIMILAR_MIN maps linearly onto these scores, so only
# near-identical spellings (or similar ones with shared context) reach the threshold.
SIMILAR_MIN: Final = 0.9
SIMILAR_LOW: Final = 0.6
SIMILAR_HIGH: Final = 0.95
# Similar single words score this much of a similar multi-word name: they need context to link.
SINGLE_WORD_FACTOR: Final = 0.9
# Names shorter than this (normalised characters) are too short for similar-spelling matches.
SIMILAR_MIN_LENGTH: Final = 5
# Bonus at most, for sharing every other entity of the article with the candidate's past articles.
CONTEXT_BONUS: Final = 0.15
# Two candidates whose confidences are this close are a tie: context, then article count decides.
TIE_MARGIN: Final = 0.05
# How far apart types may be: the model confuses organisations and places (a club named after its
# town), organisations and people (a firm named after its founder), rarely people and places.
TYPE_FACTOR: Final[Mapping[frozenset[EntityType], float]] = {
    frozenset({EntityType.PERSON, EntityType.ORGANISATION}): 0.8,
    frozenset({EntityType.ORGANISATION, EntityType.PLACE}): 0.8,
    frozenset({EntityType.PERSON, EntityType.PLACE}): 0.6,
    frozenset({EntityType.OTHER, EntityType.PERSON}): 0.8,
    frozenset({EntityType.OTHER, EntityType.ORGANISATION}): 0.8,
    frozenset({EntityType.OTHER, EntityType.PLACE}): 0.8,
}
# Identifier fields that are not identities (a point is shared by a city and its port).
NOT_IDENTITIES: Final = frozenset({"latitude", "longitude"})
# Fields that describe an entity, not name it: every city has feature "city".
DESCRIPTIONS: Final = frozenset({"feature"})
# Features whose ISO 3166 code is their own; on anything else it is the country it lies in.
ISO_OWNERS: Final = frozenset({"country"})
# Compared first, in this order, when two entities both have them: they decide alone.
STRONG_IDENTIFIERS: Final = ("wikidata", "qid", "geonames_id", "uri")
# Compared last: shared by a country and anything a knowledge base files under it.
WEAK_IDENTIFIERS: Final = frozenset({"iso3166_alpha2", "iso3166_alpha3"})
# Words left out of acronyms: "Bank of England" is BoE or BE.
ACRONYM_SKIP: Final = frozenset({"of", "the", "and", "for", "de", "la", "le", "du", "del", "der", "&"})
# Name suffixes that are not surnames.
NAME_SUFFIXES: Final = frozenset({"jr", "sr", "ii", "iii", "iv"})

_ACRONYM = re.compile(r"(?:[A-Z]\.?){2,6}|[A-Z]{2,}[a-z]?[A-Z]+")
# Sound classes for blocking similar spellings: digraphs first, then letters of one class.
_DIGRAPHS: Final = (("sch", "s"), ("sh", "s"), ("ch", "s"), ("zh", "j"), ("kh", "k"), ("ph", "f"),
                    ("th", "t"), ("dh", "t"), ("gh", "k"), ("ck", "k"), ("dj", "j"), ("ts", "s"))  # fmt: skip
_CLASSES: Final = str.maketrans("cgkqbpdtvwfszxj", "kkkkppttfffsssj")
_VOWELS: Final = frozenset("aeiouyh")


def normalise(text: str) -> str:
    """Case, accents, dots, possessives, punctuation and a leading 'the' ignored."""
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in folded if not unicodedata.combining(c)).casefold()
    folded = re.sub(r"['’]s\b", "", folded.replace(".", ""))
    folded = re.sub(r"[^\w&]+", " ", folded).strip()
    return folded.removeprefix("the ").strip()


def is_acronym(text: str) -> bool:
    return _ACRONYM.fullmatch(text.strip()) is not None


def acronyms(name: str) -> set[str]:
    """Acronyms a multi-word name may be written as: all initials, and without small words."""
    words = normalise(name).split()
    if len(words) < 2:
        return set()
    out = {"".join(w[0] for w in words), "".join(w[0] for w in words if w not in ACRONYM_SKIP)}
    return {a for a in out if len(a) >= 2}


def person_variants(name: str) -> set[str]:
    """The normalised name, and without middle initials: 'Martin E. Dempsey' -> 'martin dempsey'."""
    words = normalise(name).split()
    out = {" ".join(words)}
    if len(words) > 2:
        out.add(" ".join([words[0], *(w for w in words[1:-1] if len(w) > 1), words[-1]]))
    return {v for v in out if v}


def surname(name: str) -> str | None:
    words = [w for w in normalise(name).split() if w not in NAME_SUFFIXES]
    return words[-1] if len(words) >= 2 and len(words[-1]) > 1 else None


def sound_key(text: str) -> str:
    """A coarse spelling-independent key: Shoigu/Shoygu, Qaddafi/Gaddafi/Kadhafi share one."""
    words = []
    for word in normalise(text).split():
        for digraph, sound in _DIGRAPHS:
            word = word.replace(digraph, sound)
        mapped = word.translate(_CLASSES)
        out: list[str] = []
        for i, c in enumerate(mapped):
            if c in _VOWELS and i > 0:
                continue
            c = "a" if c in _VOWELS else c  # a leading vowel is kept as one class
            if not out or out[-1] != c:
                out.append(c)
        words.append("".join(out))
    return " ".join(w for w in words if w)


def jaro_winkler(a: str, b: str, *, prefix_weight: float = 0.1) -> float:
    """Jaro-Winkler similarity in 0..1 (Winkler 1990): matches within a window, transpositions,
    and a bonus for a common prefix of up to four characters."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    window = max(max(len(a), len(b)) // 2 - 1, 0)
    matched_b = [False] * len(b)
    a_matches: list[str] = []
    for i, c in enumerate(a):
        for j in range(max(0, i - window), min(len(b), i + window + 1)):
            if not matched_b[j] and b[j] == c:
                matched_b[j] = True
                a_matches.append(c)
                break
    m = len(a_matches)
    if m == 0:
        return 0.0
    b_matches = [c for c, hit in zip(b, matched_b, strict=True) if hit]
    transpositions = sum(x != y for x, y in zip(a_matches, b_matches, strict=True)) / 2
    jaro = (m / len(a) + m / len(b) + (m - transpositions) / m) / 3
    prefix = 0
    for x, y in zip(a[:4], b[:4], strict=False):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * prefix_weight * (1 - jaro)


def identifier_order(field: str) -> tuple[int, str]:
    """Which identifier decides first: knowledge-base ids, then the rest, country codes last."""
    if field in STRONG_IDENTIFIERS:
        return (0, f"{STRONG_IDENTIFIERS.index(field):02d}")
    return (2, field) if field in WEAK_IDENTIFIERS else (1, field)


def decisive_identifiers(identifiers: Mapping[str, str]) -> dict[str, str]:
    """The identifiers that name this entity alone: country codes only when nothing better is
    known (a knowledge base may give a city its country's code)."""
    strong = {k: v for k, v in identifiers.items() if k not in WEAK_IDENTIFIERS}
    return strong or dict(identifiers)


def identifier_keys(identifiers: Identifiers | Mapping[str, object]) -> dict[str, str]:
    """`field -> value` of every identity the tagger found (any field the KB adds counts too)."""
    data = identifiers.model_dump() if isinstance(identifiers, Identifiers) else dict(identifiers)
    return {k: str(v) for k, v in data.items() if v is not None and k not in NOT_IDENTITIES and v != ""}


def identity_keys(identifiers: Identifiers | Mapping[str, object]) -> dict[str, str]:
    """`field -> value` of the identifiers that name this entity alone, for linking: no
    descriptions (feature), and a country code only on a country or an entity of no stated
    feature (on a city it is context: Oslo and Bergen share NO)."""
    keys = identifier_keys(identifiers)
    feature = keys.get("feature")
    drop = DESCRIPTIONS | (WEAK_IDENTIFIERS if feature is not None and feature not in ISO_OWNERS else set())
    return {k: v for k, v in keys.items() if k not in drop}


@dataclass(frozen=True)
class Query:
    """One article entity, as linking sees it."""

    name: str
    type: EntityType
    surfaces: tuple[str, ...]  # name, aliases and mention texts
    identifiers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, entity: Entity) -> Query:
        surfaces = dict.fromkeys([entity.name, *entity.aliases, *(m.text for m in entity.mentions)])
        return cls(entity.name, entity.type, tuple(surfaces), identity_keys(entity.identifiers))

    def names(self) -> set[str]:
        out: set[str] = set()
        for surface in self.surfaces:
            out |= person_variants(surface) if self.type is EntityType.PERSON else {normalise(surface)}
        return {n for n in out if n}


@dataclass(frozen=True)
class LookupKeys:
    """Registry index keys to read candidates from, by kind: each kind is a set of key values."""

    name: frozenset[str]
    acronym: frozenset[str]
    surname: frozenset[str]
    sound: frozenset[str]
    identifier: frozenset[str]  # "field:value"


def lookup_keys(query: Query) -> LookupKeys:
    names = query.names()
    acronym_keys: set[str] = set()
    for surface in query.surfaces:
        if is_acronym(surface):
            acronym_keys.add(normalise(surface).replace(" ", ""))
    # A long name may have been registered under its acronym: look its acronyms up as names.
    long_acronyms = set().union(*(acronyms(s) for s in query.surfaces if not is_acronym(s)))
    single = {n for n in names if " " not in n}
    surnames = {s for s in (surname(n) for n in names) if s}
    person = query.type is EntityType.PERSON
    return LookupKeys(
        name=frozenset(names | long_acronyms | (surnames if person else set())),
        acronym=frozenset(acronym_keys),
        surname=frozenset(single if person else set()),
        sound=frozenset(sound_key(n) for n in names if len(n) >= SIMILAR_MIN_LENGTH),
        identifier=frozenset(f"{k}:{v}" for k, v in query.identifiers.items()),
    )


def index_keys(
    name: str, type_: EntityType, surfaces: Iterable[str], identifiers: Mapping[str, str]
) -> LookupKeys:
    """The index keys an entity is filed under, so that `lookup_keys` of its variants find it."""
    query = Query(name, type_, tuple(dict.fromkeys([name, *surfaces])), identifiers)
    names = query.names()
    acronym_keys = set().union(*(acronyms(s) for s in query.surfaces if not is_acronym(s)))
    person = type_ is EntityType.PERSON
    surnames = {s for s in (surname(n) for n in names) if s} if person else set()
    return LookupKeys(
        name=frozenset(names),
        acronym=frozenset(acronym_keys),
        surname=frozenset(surnames),
        sound=frozenset(sound_key(n) for n in names if len(n) >= SIMILAR_MIN_LENGTH),
        identifier=frozenset(f"{k}:{v}" for k, v in identifiers.items()),
    )


@dataclass(frozen=True)
class Known:
    """A registry entity as a candidate: what linking needs of its card."""

    id: str
    name: str
    type: EntityType
    names: Mapping[str, int]  # normalised name -> articles it was seen in
    identifiers: Mapping[str, str]
    articles: int
    # For each entity of the article being linked: the articles it shares with this candidate.
    shared: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    entity_id: str | None  # None: make a new entity
    method: str  # identifier, name, alias, acronym, surname, similar, new
    confidence: float
    reason: str


@dataclass(frozen=True)
class _Scored:
    known: Known
    method: str
    base: float
    confidence: float
    context: float


def _name_match(query: Query, known: Known) -> tuple[str, float]:
    names = query.names()
    canonical = person_variants(known.name) if known.type is EntityType.PERSON else {normalise(known.name)}
    if names & canonical:
        return "name", SCORE_NAME
    known_full = {n for n in {*canonical, *known.names} if " " in n}
    person = EntityType.PERSON in (query.type, known.type)
    aliases = names & set(known.names)
    # A bare surname the entity was once called by is still a surname: it links only when no
    # other candidate has it (see `decide`), like any surname.
    bare_surnames = {a for a in aliases if " " not in a and a in {surname(n) for n in known_full}}
    if aliases and not (person and aliases <= bare_surnames):
        return "alias", SCORE_ALIAS
    query_acronyms = {normalise(s).replace(" ", "") for s in query.surfaces if is_acronym(s)}
    known_acronyms = set().union(*(acronyms(n) for n in [known.name, *known.names]))
    if query_acronyms & known_acronyms:
        return "acronym", SCORE_ACRONYM
    long_acronyms = set().union(*(acronyms(s) for s in query.surfaces if not is_acronym(s)))
    if long_acronyms & {n.replace(" ", "") for n in known.names if " " not in n}:
        return "acronym", SCORE_ACRONYM
    # A surname stands for a full name only when one side has no full name at all: two different
    # full names ("Bill Clinton", "Hillary Clinton") are two people, whatever they share.
    query_full = {n for n in names if " " in n}
    if aliases:
        return "surname", SCORE_SURNAME
    if person and not (query_full and known_full):
        known_surnames = {surname(n) for n in known_full} - {None}
        query_surnames = {surname(n) for n in query_full} - {None}
        query_single = names - query_full
        known_single = set(known.names) - known_full
        if query_single & known_surnames:
            return "surname", SCORE_SURNAME
        if query_surnames & known_single:
            return "surname", SCORE_BARE_SURNAME
    pairs = [(a, b) for a in (query_full or names) for b in (known_full or {*canonical, *known.names})]
    best = max((spelling_similarity(a, b) for a, b in pairs), default=0.0)
    if best >= SIMILAR_MIN:
        span = SIMILAR_HIGH - SIMILAR_LOW
        similar = SIMILAR_LOW + span * (best - SIMILAR_MIN) / (1.0 - SIMILAR_MIN)
        # One word alone (Bonner, Benner) is too little evidence without shared context.
        single = all(" " not in a or " " not in b for a, b in pairs)
        return "similar", similar * (SINGLE_WORD_FACTOR if single else 1.0)
    return "none", 0.0


def spelling_similarity(a: str, b: str) -> float:
    """Word by word (same number of words): the least similar differing word, by Jaro-Winkler,
    raised half-way to 1 when both words share a sound key (a transliteration: Shoigu/Shoygu).
    A differing word shorter than SIMILAR_MIN_LENGTH is no match: John and Joan are two people."""
    words_a, words_b = a.split(), b.split()
    if len(words_a) != len(words_b) or a == b:
        return 1.0 if a == b else 0.0
    least = 1.0
    for x, y in zip(words_a, words_b, strict=True):
        if x == y:
            continue
        if min(len(x), len(y)) < SIMILAR_MIN_LENGTH:
            return 0.0
        similarity = jaro_winkler(x, y)
        if sound_key(x) == sound_key(y):
            similarity = (1.0 + similarity) / 2
        least = min(least, similarity)
    return least


def _identifier_match(query: Query, known: Known) -> bool | None:
    """True: an identifier is shared; False: identifiers of one kind differ; None: no evidence."""
    shared = sorted(set(query.identifiers) & set(known.identifiers), key=identifier_order)
    if not shared:
        return None
    return query.identifiers[shared[0]] == known.identifiers[shared[0]]


def type_factor(a: EntityType, b: EntityType) -> float:
    return 1.0 if a is b else TYPE_FACTOR.get(frozenset({a, b}), 0.6)


def score(query: Query, known: Known, context: Sequence[str]) -> _Scored | None:
    """How confidently `query` is `known`; None when nothing matches or an identifier differs."""
    by_identifier = _identifier_match(query, known)
    if by_identifier is False:
        return None
    method, base = ("identifier", SCORE_IDENTIFIER) if by_identifier else _name_match(query, known)
    if base <= 0.0:
        return None
    others = [c for c in context if c != known.id]
    ctx = sum(1 for c in others if known.shared.get(c, 0) > 0) / len(others) if others else 0.0
    factor = 1.0 if method == "identifier" else type_factor(query.type, known.type)
    confidence = min(1.0, base * factor + CONTEXT_BONUS * ctx)
    return _Scored(known, method, base, round(confidence, 4), ctx)


def decide(query: Query, candidates: Sequence[Known], context: Sequence[str] = ()) -> Decision:
    """Link to the best candidate at or above the threshold, else ask for a new entity.

    `context` is the registry ids of the article's other entities already linked. Ties between
    candidates are broken by shared context, then by the number of articles (the more common
    referent); a surname shared by several candidates that context does not separate is no link.
    """
    scored = [s for s in (score(query, k, context) for k in candidates) if s is not None]
    scored.sort(key=lambda s: (-s.confidence, -s.context, -s.known.articles, s.known.id))
    if not scored or scored[0].confidence < LINK_THRESHOLD:
        near = (
            f"; nearest {scored[0].known.id} ({scored[0].known.name}) at {scored[0].confidence:.2f}"
            if scored
            else ""
        )
        return Decision(None, "new", 1.0, f"no candidate reached {LINK_THRESHOLD:.2f}{near}")
    best = scored[0]
    rivals = [
        s for s in scored[1:] if best.confidence - s.confidence < TIE_MARGIN and s.known.id != best.known.id
    ]
    if rivals and best.method == "surname" and rivals[0].context >= best.context:
        names = ", ".join(f"{s.known.id} ({s.known.name})" for s in [best, *rivals])
        return Decision(None, "new", 1.0, f"surname shared by several entities: {names}")
    reason = f"{best.method} match with {best.known.name!r} ({best.known.type.value})"
    if best.context > 0:
        reason += f", shares {best.context:.0%} of the article's other entities"
    if rivals:
        reason += f"; chosen over {', '.join(s.known.id for s in rivals)} by context and article count"
        confidence = round(max(LINK_THRESHOLD, best.confidence - TIE_MARGIN), 4)
    else:
        confidence = best.confidence
    return Decision(best.known.id, best.method, confidence, reason)

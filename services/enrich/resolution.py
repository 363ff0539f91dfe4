"""Entity resolution inside one article.

The model gives spans with labels, one by one. Here they become entities: spans are repaired
(leading "the", possessives, broken parentheses, numbers and separators inside), titles are
moved aside, noise is dropped, and mentions are clustered (surname and full name, acronym and
expansion, country aliases). Each cluster gets one type, voted by its mentions with priors from
what the name is known to be, and one canonical name. Everything here is a pure function of the
text and the model's spans.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from services.enrich.gazetteer import Gazetteer, GazetteerEntry, name_key
from services.enrich.identifiers import Place, PlaceIndex
from shared.events import EntityType

# spaCy labels that are values, not names: never entities.
VALUE_LABELS = frozenset({"DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL"})

LABEL_TYPES: dict[str, EntityType] = {
    "PERSON": EntityType.PERSON,
    "PER": EntityType.PERSON,
    "ORG": EntityType.ORGANISATION,
    "GPE": EntityType.PLACE,
    "LOC": EntityType.PLACE,
    "FAC": EntityType.PLACE,
}

# Intergovernmental bodies and blocs known by acronym; several collide with words or places.
ORGANISATION_ACRONYMS = frozenset(
    {
        "apec", "asean", "au", "brics", "cis", "csto", "ecowas", "eu", "fao", "g7", "g8", "g20",
        "gcc", "iaea", "icc", "icj", "ilo", "imf", "interpol", "nafta", "nato", "oas", "oecd",
        "oic", "opec", "osce", "sco", "un", "unesco", "unhcr", "unicef", "unrwa", "who", "wto",
    }
)  # fmt: skip

# Titles and honorifics, moved from names into `titles`. Multi-word forms first when matching.
TITLES = (
    "President", "Vice President", "Vice-President", "President-elect", "Prime Minister",
    "Deputy Prime Minister", "Minister", "Deputy Minister", "Defence Minister",
    "Defense Minister", "Foreign Minister", "Interior Minister", "Finance Minister",
    "Economy Minister", "Justice Minister", "Health Minister", "Energy Minister",
    "Trade Minister", "Oil Minister", "Supreme Leader", "Chancellor", "Premier",
    "Secretary of State", "Secretary-General", "Secretary General", "Secretary",
    "Foreign Secretary", "Home Secretary", "Defense Secretary", "Defence Secretary",
    "Ayatollah", "Grand Ayatollah", "Sheikh", "Sheik", "Emir", "Sultan", "King", "Queen",
    "Prince", "Princess", "Crown Prince", "Pope", "Cardinal", "Archbishop", "Bishop",
    "Reverend", "Rev.", "Rabbi", "Imam", "Mullah", "General", "Gen.", "Lieutenant General",
    "Major General", "Brigadier General", "Colonel", "Col.", "Lieutenant", "Lt.", "Captain",
    "Capt.", "Admiral", "Adm.", "Commander", "Marshal", "Field Marshal", "Sergeant", "Sgt.",
    "Dr", "Dr.", "Mr", "Mr.", "Mrs", "Mrs.", "Ms", "Ms.", "Miss", "Sir", "Dame", "Professor",
    "Prof.", "Senator", "Sen.", "Congressman", "Congresswoman", "Rep.", "Governor", "Gov.",
    "Mayor", "Judge", "Ambassador", "Chairman", "Chairwoman", "Speaker", "Chief Executive",
    "Spokesman", "Spokeswoman", "Coach", "Manager",
)  # fmt: skip

# Single words that name no particular entity on their own (the model tags them as ORG).
GENERIC_WORDS = frozenset(
    {
        "administration", "agency", "army", "authorities", "authority", "board", "bureau",
        "cabinet", "chairman", "committee", "company", "court", "defence", "defense",
        "department", "forces", "government", "interior", "military", "minister", "ministry",
        "navy", "office", "police", "president", "presidency", "regime", "security", "state",
        "uav", "uavs", "drone", "drones", "men", "women", "attendance", "extras", "scorer",
        "scorers", "stadium", "division", "league", "team", "club", "death", "results",
    }
)  # fmt: skip

# Words that make a name an organisation's ("Kloof Gold Mining Co").
ORGANISATION_WORDS = frozenset(
    {
        "co", "corp", "inc", "ltd", "plc", "llc", "ag", "sa", "nv", "spa", "group", "holdings",
        "bank", "airlines", "airways", "mining", "oil", "motors", "university", "party", "club",
        "united", "city", "fc", "association", "federation", "union", "council", "ministry",
        "agency", "company", "international", "industries", "energy", "bros", "&",
    }
)  # fmt: skip

# Lower-case words that may sit inside a name ("Bank of England", "Ludwig van Beethoven").
NAME_CONNECTORS = frozenset(
    {
        "of", "and", "&", "the", "for", "in", "on", "de", "du", "des", "la", "le", "les", "del",
        "della", "di", "da", "do", "dos", "das", "der", "den", "van", "von", "zu", "y", "e", "al",
        "el", "bin", "ibn", "bint", "ben", "abu", "upon", "et", "und", "st", "sur",
    }
)  # fmt: skip

# Corporate and generational suffixes that follow a comma inside one name.
_COMMA_SUFFIX = re.compile(r"^(?:Inc|Ltd|Co|Corp|LLC|LLP|plc|PLC|SA|AG|NV|Jr|Sr|DC|D\.C)\.?$")
# Labels whose names do not contain a number (see _split_tokens for "Channel 4").
NUMBERLESS_LABELS = frozenset({"PERSON", "GPE", "LOC", "FAC", "NORP", "ORG"})
# A line with this many numbers is a results or table line, where numbers end names.
RESULTS_LINE_NUMBERS = 2
# A word that follows a place name in text and says it is a place ("the Caucasus region").
_PLACE_NOUN = re.compile(
    r"\s+(?:region|regions|mountains|valley|peninsula|desert|sea|coast|basin|province|highlands)\b"
)
# A score right after a name: "Somerset 83", "Surrey 429-7", not a date or a quantity.
_SCORE = re.compile(
    r"\s+(?!\d{4}-\d\d-\d\d)\d{1,3}(?:-\d{1,3})?(?=\s|$|[,.;)])(?!\s*(?:km|miles|kg|%|percent|per))"
)
_DIGITS = re.compile(r"\d+")
_LOWER_WORD = re.compile(r"(?<![\w-])[a-z][\w'’]*(?![\w-])")
_NUMBER = re.compile(r"[\d.,:+/%-]*\d[\d.,:+/%-]*(?:st|nd|rd|th|s)?")
_ACRONYM = re.compile(r"(?:[A-Z]\.){2,}|[A-Z][A-Z&]{1,7}[0-9]?")
_PAREN_ACRONYM = re.compile(r"\s*\(\s*((?:[A-Z]\.){2,}|[A-Z][A-Z&]{1,9})\s*\)")
_WORD = re.compile(r"[^\W\d_][\w'’.&-]*")
_SEPARATOR = re.compile(r"\s+[-–—:]\s+|\s*/\s*|\s*[;|]\s*|\s*\n\s*|\[|\]")
_COMMA = re.compile(r"\s*,\s*")
_LEADING_PUNCT = "\"'“‘«([{-–—*•·"
_TRAILING_PUNCT = "\"'”’»)]}.,;:!?-–—*"
_POSSESSIVE = re.compile(r"\s?['’]s?$")
_ABBREVIATION = re.compile(r"(?:[A-Za-z]\.)+|[A-Z][a-z]{0,3}\.")

_TITLE_WORDS = sorted(TITLES, key=len, reverse=True)
_LEADING_TITLE = re.compile(r"^(?:" + "|".join(re.escape(t) for t in _TITLE_WORDS) + r")\s+")
_CONTEXT_TITLE = re.compile(
    r"(?:^|(?<=[\s,(’'\"“]))(" + "|".join(re.escape(t) for t in _TITLE_WORDS) + r")(?:\s*,)?\s+$"
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One span from the model (or the gazetteer's entity ruler), offsets into the text."""

    start: int
    end: int
    label: str
    entry_id: str | None = None


@dataclass(slots=True)
class Span:
    """A repaired mention: what a Candidate became after cleaning."""

    start: int
    end: int
    label: str
    entry_id: str | None = None
    titles: tuple[str, ...] = ()
    propagated: bool = False


@dataclass(slots=True)
class Resolved:
    """One entity of an article, before identifiers and salience are attached."""

    name: str
    type: EntityType
    mentions: list[tuple[int, int]]
    titles: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    entry: GazetteerEntry | None = None
    place: Place | None = None


def is_acronym(text: str) -> bool:
    return _ACRONYM.fullmatch(text) is not None


def initials(text: str) -> str:
    """Upper-case initials of the capitalised words: 'Bank of England' -> 'BE'."""
    return "".join(w[0] for w in _WORD.findall(text) if w[0].isupper()).upper()


def acronym_letters(text: str) -> str:
    return re.sub(r"[^A-Za-z]", "", text).upper()


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    """Trim spaces, quotes, brackets, trailing punctuation and a leading 'the'."""
    while True:
        before = (start, end)
        while start < end and (text[start].isspace() or text[start] in _LEADING_PUNCT):
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start and text[end - 1] in _TRAILING_PUNCT:
            last = text[start:end].rsplit(None, 1)[-1]
            if not (text[end - 1] == "." and _ABBREVIATION.fullmatch(last)):
                end -= 1
        possessive = _POSSESSIVE.search(text, start, end)
        if possessive and possessive.start() > start:
            end = possessive.start()
        head = text[start:end]
        if head[:4] in ("the ", "The ", "THE "):
            start += 4
        if (start, end) == before:
            return start, end


def _split_on(pattern: re.Pattern[str], text: str, start: int, end: int) -> list[tuple[int, int]]:
    pieces = []
    cursor = start
    for match in pattern.finditer(text, start, end):
        pieces.append((cursor, match.start()))
        cursor = match.end()
    pieces.append((cursor, end))
    return [(s, e) for s, e in pieces if e > s]


def _split_commas(text: str, start: int, end: int) -> list[tuple[int, int]]:
    pieces = _split_on(_COMMA, text, start, end)
    merged: list[tuple[int, int]] = []
    for s, e in pieces:
        if merged and _COMMA_SUFFIX.match(text[s:e].strip()):
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def _split_tokens(text: str, start: int, end: int, label: str) -> list[tuple[int, int]]:
    """Cut a span at lower-case words that cannot sit in a name, and at numbers.

    People, places and organisations do not end in a score ("Durham 114", "Mexico 2-0"); an
    organisation may end in one digit ("Channel 4") and other names in any number ("Euro 96"),
    except in a results line, where numbers are scores.
    """
    pieces: list[tuple[int, int]] = []
    current: tuple[int, int] | None = None
    results = _in_results_line(text, start)
    for token in re.finditer(r"\S+", text[start:end]):
        s, e = start + token.start(), start + token.end()
        word = token.group()
        bare = word.strip(_LEADING_PUNCT + _TRAILING_PUNCT)
        if _NUMBER.fullmatch(bare):
            breaks = results or label in NUMBERLESS_LABELS
            if label == "ORG" and not results and len(bare) == 1 and e == end:
                breaks = False
        else:
            breaks = (
                bare.islower()
                and bare.casefold() not in NAME_CONNECTORS
                and not re.match(r"^(?:al|el|de|d|l|bin|ibn|van|von)['’-]", bare)
            )
        if breaks:
            if current:
                pieces.append(current)
            current = None
        else:
            current = (current[0], e) if current else (s, e)
    if current:
        pieces.append(current)
    return pieces


def _line(text: str, position: int) -> str:
    start = text.rfind("\n", 0, position) + 1
    end = text.find("\n", position)
    return text[start : end if end >= 0 else len(text)]


def _in_results_line(text: str, position: int) -> bool:
    return len(_DIGITS.findall(_line(text, position))) >= RESULTS_LINE_NUMBERS


def _split_parenthesis(
    text: str, start: int, end: int
) -> tuple[list[tuple[int, int]], tuple[int, int] | None]:
    """'X (ACR' or 'X (ACR)' -> [X, ACR] and the pair to link; a stray bracket is cut off."""
    inner = text[start:end]
    opening = inner.find("(")
    if opening < 0:
        closing = inner.find(")")
        return ([(start, start + closing)] if closing > 0 else [(start, end)]), None
    head = (start, start + opening)
    rest = start + opening + 1
    closing = text.find(")", rest, end)
    tail = (rest, closing if closing >= 0 else end)
    pieces = [p for p in (head, tail) if text[p[0] : p[1]].strip()]
    link = (0, 1) if len(pieces) == 2 else None
    return pieces, link


def _titles_before(text: str, start: int) -> tuple[str, ...]:
    """Title words right before a person's name: 'Iran's Supreme Leader, Ayatollah ...'."""
    line_start = text.rfind("\n", 0, start) + 1
    window = text[max(line_start, start - 60) : start]
    match = _CONTEXT_TITLE.search(window)
    return (match.group(1),) if match else ()


def _strip_leading_titles(text: str, start: int, end: int) -> tuple[int, tuple[str, ...]]:
    titles: list[str] = []
    while True:
        match = _LEADING_TITLE.match(text[start:end])
        if not match or match.end() >= end - start:
            return start, tuple(titles)
        titles.append(match.group().strip())
        start += match.end()


def _is_noise(text: str, start: int, end: int) -> bool:
    surface = text[start:end]
    if len(surface) < 2 or not any(c.isupper() for c in surface):
        return True  # lower-case-only spans, stray letters, numbers
    if sum(c.isalpha() for c in surface) < 2:
        return True
    words = surface.split()
    if len(words) == 1 and name_key(surface) in GENERIC_WORDS:
        return True
    if len(words) >= 3 and all(len(w) <= 3 and w.isupper() for w in words):
        return True  # a table header: "W D L PCT GB"
    # Photo credits: "KREMLIN PRESS OFFICE/Anadolu Agency" -- an ALL-CAPS part beside a slash.
    beside_slash = text[max(0, start - 2) : start].strip().endswith("/") or text[
        end : end + 2
    ].strip().startswith("/")
    return beside_slash and surface.isupper() and len(surface) > 3


def clean(
    text: str, candidates: Sequence[Candidate], places: PlaceIndex
) -> tuple[list[Span], list[tuple[int, int]]]:
    """Repair the model's spans; returns the spans and pairs of span indexes known to corefer."""
    spans: list[Span] = []
    links: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for cand in candidates:
        if cand.label in VALUE_LABELS:
            continue
        if cand.entry_id is not None:
            s, e = _strip(text, cand.start, cand.end)
            if e > s and (s, e) not in seen:
                seen.add((s, e))
                spans.append(Span(s, e, cand.label, cand.entry_id))
            continue
        for part in _split_on(_SEPARATOR, text, cand.start, cand.end):
            for piece in _split_commas(text, *part):
                pieces, link = _split_parenthesis(text, *piece)
                first = len(spans)
                kept: dict[int, int] = {}
                for number, paren_piece in enumerate(pieces):
                    for token_piece in _split_tokens(text, *paren_piece, cand.label):
                        span = _make_span(text, token_piece, cand.label)
                        if span is None or (span.start, span.end) in seen:
                            continue
                        seen.add((span.start, span.end))
                        kept.setdefault(number, len(spans))
                        spans.append(span)
                if link and link[0] in kept and link[1] in kept:
                    tail = text[spans[kept[link[1]]].start : spans[kept[link[1]]].end]
                    if is_acronym(tail) and places.country(tail) is None:
                        links.append((kept[link[0]], kept[link[1]]))
                del first
    return spans, links


def _make_span(text: str, piece: tuple[int, int], label: str) -> Span | None:
    start, end = _strip(text, *piece)
    if end <= start:
        return None
    titles: tuple[str, ...] = ()
    if label == "PERSON":
        start, leading = _strip_leading_titles(text, start, end)
        titles = (*_titles_before(text, start - sum(len(t) + 1 for t in leading)), *leading)
    if _is_noise(text, start, end):
        return None
    return Span(start, end, label, titles=titles)


def link_parenthesised_acronyms(
    text: str, spans: list[Span], links: list[tuple[int, int]], places: PlaceIndex
) -> None:
    """'the Shanghai Cooperation Organisation (SCO)': SCO becomes a mention of the expansion.

    When only the end of a longer name spells the acronym ('Aerospace Forces of the Islamic
    Revolutionary Guards Corps (IRGC)') that end becomes a mention of its own.
    """
    by_position = {(s.start, s.end): i for i, s in enumerate(spans)}
    for index in range(len(spans)):
        span = spans[index]
        if span.label == "PERSON":
            continue
        match = _PAREN_ACRONYM.match(text, span.end)
        if not match or places.country(match.group(1)):
            continue  # "Lindsay Davenport ( U.S. )" is a nationality, not an acronym
        acronym = acronym_letters(match.group(1))
        target = index
        words = list(_WORD.finditer(text, span.start, span.end))
        if initials(text[span.start : span.end]) != acronym:
            for k in range(1, len(words)):
                start = words[k].start()
                if text[start].isupper() and initials(text[start : span.end]) == acronym:
                    target = by_position.get((start, span.end), len(spans))
                    if target == len(spans):
                        spans.append(Span(start, span.end, span.label, propagated=True))
                        by_position[(start, span.end)] = target
                    break
        position = match.span(1)
        other = by_position.get(position)
        if other is None:
            other = len(spans)
            spans.append(Span(*position, span.label, propagated=True))
            by_position[position] = other
        links.append((target, other))


class _UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


@dataclass(slots=True)
class _Group:
    """All spans sharing one normalised surface."""

    key: str
    surface: str
    indexes: list[int]
    labels: Counter[str]
    tokens: tuple[str, ...]


def _surface(text: str, span: Span) -> str:
    return re.sub(r"\s+", " ", text[span.start : span.end])


def _groups(text: str, spans: Sequence[Span]) -> list[_Group]:
    groups: dict[str, _Group] = {}
    for i, span in enumerate(spans):
        surface = _surface(text, span)
        key = name_key(surface)
        group = groups.get(key)
        if group is None:
            tokens = tuple(t.casefold() for t in surface.replace("’", "'").split())
            group = groups[key] = _Group(key, surface, [], Counter(), tokens)
        group.indexes.append(i)
        group.labels[span.label] += 1
    return list(groups.values())


def cluster(
    text: str,
    spans: Sequence[Span],
    links: Iterable[tuple[int, int]],
    places: PlaceIndex,
) -> list[list[int]]:
    """Span indexes grouped into entities."""
    groups = _groups(text, spans)
    uf = _UnionFind(len(spans))
    for group in groups:
        for i in group.indexes[1:]:
            uf.union(group.indexes[0], i)
    for a, b in links:
        uf.union(a, b)

    # Country aliases: "US", "U.S." and "the United States" are one place.
    by_country: dict[str, int] = {}
    for group in groups:
        country = places.country(group.surface)
        if country is not None and country.iso3166_alpha2 is not None:
            first = by_country.setdefault(country.iso3166_alpha2, group.indexes[0])
            uf.union(first, group.indexes[0])

    # Acronyms and their expansions, when exactly one expansion fits.
    for group in groups:
        if not is_acronym(group.surface) or places.country(group.surface):
            continue
        letters = acronym_letters(group.surface)
        roots = {
            uf.find(other.indexes[0])
            for other in groups
            if len(other.tokens) > 1
            and not set(other.labels) <= {"PERSON"}
            and initials(other.surface) == letters
        }
        if len(roots) == 1:
            uf.union(group.indexes[0], roots.pop())

    # Parts of a person's name ("Shoygu", "Wang") join the one full name they belong to.
    people = [g for g in groups if len(g.tokens) > 1 and g.labels["PERSON"]]
    for group in sorted(groups, key=lambda g: len(g.tokens), reverse=True):
        if is_acronym(group.surface):
            continue
        if places.country(group.surface) and not group.labels["PERSON"]:
            continue  # "Jordan" joins "Michael Jordan" only where the model saw a person
        size = len(group.tokens)
        roots = {
            uf.find(person.indexes[0])
            for person in people
            if len(person.tokens) > size
            and (person.tokens[-size:] == group.tokens or (size == 1 and person.tokens[0] == group.tokens[0]))
        }
        if len(roots) == 1:
            uf.union(group.indexes[0], roots.pop())

    clusters: dict[int, list[int]] = {}
    for i in range(len(spans)):
        clusters.setdefault(uf.find(i), []).append(i)
    return list(clusters.values())


def _vote(text: str, spans: Sequence[Span], members: Sequence[int], places: PlaceIndex) -> EntityType:
    surfaces = [_surface(text, spans[i]) for i in members]
    keys = {name_key(s) for s in surfaces}
    if keys & ORGANISATION_ACRONYMS:
        return EntityType.ORGANISATION
    votes: Counter[EntityType] = Counter()
    full_name_person = False
    for i, surface in zip(members, surfaces, strict=True):
        kind = LABEL_TYPES.get(spans[i].label, EntityType.OTHER)
        weight = 0.5 if spans[i].propagated else 1.0
        if kind is EntityType.PERSON and len(surface.split()) > 1:
            full_name_person = True
            weight = 2.0
        votes[kind] += weight
    expanded = any(is_acronym(s) for s in surfaces) and any(len(s.split()) > 1 for s in surfaces)
    if full_name_person:
        return EntityType.PERSON
    if any(places.country(s) for s in surfaces) and not expanded:
        return EntityType.PLACE
    if any(_followed_by_score(text, spans[i].end) for i in members) and (
        any(places.lookup(s) for s in surfaces) or votes[EntityType.PERSON] < max(votes.values())
    ):
        return EntityType.ORGANISATION  # "Atlanta 4 Florida 2": a team named after its place
    if any(places.is_strong_place(s) for s in surfaces) and not expanded:
        return EntityType.PLACE
    if votes[EntityType.OTHER] >= max(votes.values()) and any(
        _PLACE_NOUN.match(text, spans[i].end) for i in members
    ):
        return EntityType.PLACE
    order = [EntityType.PERSON, EntityType.ORGANISATION, EntityType.PLACE, EntityType.OTHER]
    if any(is_acronym(s) for s in surfaces):
        order.remove(EntityType.ORGANISATION)
        order.insert(0, EntityType.ORGANISATION)
    best = max(votes.values())
    return next(kind for kind in order if votes[kind] == best)


def _followed_by_score(text: str, end: int) -> bool:
    """A results line: the name is followed by a score and the line has other numbers."""
    return _SCORE.match(text, end) is not None and len(_DIGITS.findall(_line(text, end))) >= 2


def _canonical(surfaces: Sequence[str]) -> str:
    """The longest proper full form: mixed case over ALL CAPS, more words, then more letters."""
    return max(
        surfaces,
        key=lambda s: (not is_acronym(s), not s.isupper(), len(s.split()), len(s), -surfaces.index(s)),
    )


def propagate(
    text: str,
    cased: str,
    spans: list[Span],
    clusters: list[list[int]],
    types: Sequence[EntityType],
    taken: Sequence[tuple[int, int]],
    lower_words: frozenset[str],
) -> None:
    """Add the occurrences of an entity's names that the model did not tag.

    Only names that are not also ordinary words in this text, and only where the occurrence is
    not part of a longer capitalised name.
    """
    occupied = sorted([*taken, *((s.start, s.end) for s in spans)])
    surfaces: dict[str, int] = {}
    for number, (members, kind) in enumerate(zip(clusters, types, strict=True)):
        if kind is EntityType.OTHER:
            continue
        for i in members:
            surface = cased[spans[i].start : spans[i].end]
            if "\n" in surface or (len(surface) < 3 and not is_acronym(surface)):
                continue
            if surface.isupper() and not is_acronym(surface):
                continue
            if _is_ordinary(surface, lower_words):
                continue  # also an ordinary word here ("Such", "Real")
            surfaces.setdefault(surface, number)
    if not surfaces:
        return
    pattern = re.compile(
        r"(?<![\w&'’.-])("
        + "|".join(re.escape(s) for s in sorted(surfaces, key=len, reverse=True))
        + r")(?![\w&-]|['’]\w\w)"
    )
    for match in pattern.finditer(cased):
        start, end = match.span()
        if _overlaps(occupied, start, end):
            continue
        if re.match(r"\s+(?:[A-Z][a-z]|&)", cased[end : end + 3]):
            continue  # "Iran Air", "Tehran Times"
        before = re.search(r"([A-Z][\w'’-]*)\s+$", cased[max(0, start - 30) : start])
        if before and not _sentence_start(cased, start - len(before.group(0))):
            if not _LEADING_TITLE.match(before.group(1) + " "):
                continue
        number = surfaces[match.group(1)]
        source = spans[clusters[number][0]]
        clusters[number].append(len(spans))
        spans.append(Span(start, end, source.label, propagated=True))
        occupied.append((start, end))
        occupied.sort()
    del text


def _sentence_start(text: str, position: int) -> bool:
    return re.search(r"(?:^|[.!?:\"“”]\s*|\n\s*)$", text[max(0, position - 4) : position]) is not None


def _overlaps(occupied: Sequence[tuple[int, int]], start: int, end: int) -> bool:
    return any(s < end and start < e for s, e in occupied)


# A dateline opening a story: "LONDON 1996-08-30", "KHASAVYURT , Russia 1996-08-31",
# "MOSCOW (Reuters) -", "WASHINGTON, Sept 20 -". The capitalised place is where it was filed.
_DATELINE = re.compile(
    r"^[ \t]*(?P<place>[A-Z][A-Z.'’-]+(?:[ \t]+[A-Z][A-Z.'’-]+){0,3})"
    r"(?:[ \t]*,[ \t]*(?P<region>[A-Z][A-Za-z.'’-]+(?:[ \t]+[A-Z][A-Za-z.'’-]+){0,2}))?"
    r"[ \t]*,?[ \t]*(?:\d{4}-\d\d-\d\d|\([A-Za-z][\w .-]*\)[ \t]*[-–—]"
    r"|(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?[ \t]+\d{1,2}\b)",
    re.MULTILINE,
)
# "Lindsay Davenport ( U.S. )" in results: a name followed by a country in brackets.
_NAME_COUNTRY = re.compile(
    r"(?<![\w.'’-])((?:[A-Z][\w'’.-]*[ \t]+){1,3}[A-Z][\w'’-]*[a-z][\w'’-]*)"
    r"[ \t]*\([ \t]*([A-Z][\w .'’-]{1,30}?)[ \t]*\)"
)
DATELINE_LINES = 3  # a dateline is on one of the first lines of a story


def dateline_spans(text: str) -> list[tuple[int, int]]:
    head_end = 0
    for _ in range(DATELINE_LINES):
        found = text.find("\n", head_end)
        if found < 0:
            head_end = len(text)
            break
        head_end = found + 1
    spans: list[tuple[int, int]] = []
    for match in _DATELINE.finditer(text, 0, head_end):
        spans.append(match.span("place"))
        if match.group("region"):
            spans.append(match.span("region"))
    return spans


def _athlete_candidates(text: str, candidates: Sequence[Candidate], places: PlaceIndex) -> list[Candidate]:
    """Names followed by '( Country )' are people (results listings); add or relabel them."""
    out = list(candidates)
    for match in _NAME_COUNTRY.finditer(text):
        start, end = match.span(1)
        name = match.group(1)
        if places.country(match.group(2)) is None or places.lookup(name) is not None:
            continue
        words = name.split()
        if words[0].casefold() in NAME_CONNECTORS or is_acronym(words[0]):
            continue
        if any(name_key(w) in ORGANISATION_WORDS for w in words):
            continue  # "Kloof Gold Mining Co ( South Africa )" is a company
        inside = [c for c in out if c.start < end and start < c.end]
        if any(c.entry_id is not None or c.start < start or c.end > end for c in inside):
            continue  # the gazetteer's, or a longer name the model saw: leave it
        # The model's pieces of the name ("Natalia" GPE, "Karimova" GPE) give way to the name.
        out = [c for c in out if c not in inside]
        out.append(Candidate(start, end, "PERSON"))
    return sorted(out, key=lambda c: c.start)


def _is_common_word(
    text: str, spans: Sequence[Span], members: Sequence[int], lower_words: frozenset[str]
) -> bool:
    """A one-word name that the same text also uses as an ordinary lower-case word."""
    surfaces = {text[spans[i].start : spans[i].end] for i in members}
    if len(surfaces) != 1:
        return False
    surface = surfaces.pop()
    if " " in surface or is_acronym(surface) or not surface[:1].isupper():
        return False
    return surface.lower() in lower_words


def lower_case_words(text: str) -> frozenset[str]:
    """The words a text writes in lower case: its ordinary words."""
    return frozenset(_LOWER_WORD.findall(text))


def _is_ordinary(surface: str, lower_words: frozenset[str]) -> bool:
    return all(word in lower_words for word in surface.lower().split())


def resolve(
    text: str,
    candidates: Sequence[Candidate],
    *,
    places: PlaceIndex,
    gazetteer: Gazetteer | None = None,
    cased: str | None = None,
    propagate_mentions: bool = True,
) -> list[Resolved]:
    """The entities of one text. `cased` is the text as the model saw it (re-cased headlines)."""
    cased = text if cased is None else cased
    datelines = dateline_spans(text)
    candidates = [
        c for c in _athlete_candidates(text, candidates, places) if not _overlaps(datelines, c.start, c.end)
    ]
    lower_words = lower_case_words(cased)
    spans, links = clean(text, candidates, places)
    link_parenthesised_acronyms(text, spans, links, places)
    clusters = cluster(text, spans, links, places)
    types = [_vote(text, spans, members, places) for members in clusters]
    keep = [
        i for i, members in enumerate(clusters) if not _is_common_word(cased, spans, members, lower_words)
    ]
    clusters = [clusters[i] for i in keep]
    types = [types[i] for i in keep]
    _attach_datelines(text, datelines, spans, clusters, types)
    if propagate_mentions:
        taken = [(c.start, c.end) for c in candidates]
        propagate(text, cased, spans, clusters, types, taken, lower_words)
    return [
        _resolved(text, cased, spans, members, kind, places, gazetteer)
        for members, kind in zip(clusters, types, strict=True)
    ]


def _attach_datelines(
    text: str,
    datelines: Sequence[tuple[int, int]],
    spans: list[Span],
    clusters: list[list[int]],
    types: list[EntityType],
) -> None:
    """Dateline places join the place of the same name, never a team or company named so."""
    for start, end in datelines:
        key = name_key(text[start:end])
        index = len(spans)
        spans.append(Span(start, end, "GPE"))
        for members, kind in zip(clusters, types, strict=True):
            if kind is EntityType.PLACE and any(
                name_key(text[spans[i].start : spans[i].end]) == key for i in members
            ):
                members.append(index)
                break
        else:
            clusters.append([index])
            types.append(EntityType.PLACE)


def _resolved(
    text: str,
    cased: str,
    spans: Sequence[Span],
    members: Sequence[int],
    kind: EntityType,
    places: PlaceIndex,
    gazetteer: Gazetteer | None,
) -> Resolved:
    members = sorted(members, key=lambda i: spans[i].start)
    surfaces = [_surface(text, spans[i]) for i in members]
    entry = None
    if gazetteer is not None:
        ids = [spans[i].entry_id for i in members if spans[i].entry_id]
        entry = gazetteer.get(ids[0]) if ids else None
        entry = entry or next(filter(None, map(gazetteer.lookup, surfaces)), None)
    if entry is not None:
        kind = entry.type
    place = places.lookup_any(surfaces) if kind is EntityType.PLACE else None
    if entry is not None:
        name = entry.name
    elif place is not None and (place.kind == "country" or all(s.isupper() for s in surfaces)):
        name = place.name
    else:
        cased_surfaces = [re.sub(r"\s+", " ", cased[spans[i].start : spans[i].end]) for i in members]
        name = _canonical(cased_surfaces)
    aliases: dict[str, str] = {}
    for surface in surfaces:
        key = name_key(surface)
        if (key != name_key(name) and not surface.isupper()) or is_acronym(surface):
            if key != name_key(name):
                aliases.setdefault(key, surface)
    titles = list(dict.fromkeys(t for i in members for t in spans[i].titles))
    return Resolved(
        name=name,
        type=kind,
        mentions=[(spans[i].start, spans[i].end) for i in members],
        titles=titles,
        aliases=list(aliases.values()),
        entry=entry,
        place=place,
    )

"""Entity resolution inside one article: from the model's spans to the article's entities.

The model labels spans one at a time. `resolve` turns them into entities in five steps:

1. structure: datelines ("MOSCOW (Reuters) -") and results listings ("Name ( Country )") say
   what a name is whatever the model thought;
2. repair: a leading "the", possessives, stray brackets, trailing punctuation and scores are
   cut off; a span is split at separators, lines and words that cannot sit inside a name,
   "X (ACR" becomes X and ACR; titles move to `titles`; noise is dropped;
3. clustering: one surface is one entity, and so are a surname and the full name, an acronym
   and its expansion, and a country's aliases;
4. typing: one type per entity, voted by its mentions, with priors from what the name is known
   to be (a country, a large city, an intergovernmental acronym, a team in a results line);
5. naming: the longest proper full form (a country's short name) and the other forms as aliases.

Then the names of each entity are searched for where the model missed them. Everything here
is a pure function of the text, the model's spans and the place index.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from services.enrich import context as ctx
from services.enrich.identifiers import Place, PlaceIndex
from services.enrich.knowledge import KnowledgeBase, KnowledgeEntry, name_key
from shared.events import EntityType, entity_id

if TYPE_CHECKING:  # languages.py builds on this module's tables
    from services.enrich.languages import LanguageRules


# spaCy labels that are values, not names: never entities.
VALUE_LABELS = frozenset({"DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL"})

LABEL_TYPES: dict[str, EntityType] = {
    "PERSON": EntityType.PERSON,
    "ORG": EntityType.ORGANISATION,
    "GPE": EntityType.PLACE,
    "LOC": EntityType.PLACE,
    "FAC": EntityType.PLACE,
}

# Intergovernmental bodies and blocs known by acronym; several look like words or places.
ORGANISATION_ACRONYMS = frozenset(
    {
        "apec", "asean", "au", "brics", "cis", "csto", "ecowas", "eu", "fao", "g7", "g8", "g20",
        "gcc", "iaea", "icc", "icj", "ilo", "imf", "interpol", "nafta", "nato", "oas", "oecd",
        "oic", "opec", "osce", "sco", "un", "unesco", "unhcr", "unicef", "unrwa", "who", "wto",
    }
)  # fmt: skip

# Titles and honorifics, moved from people's names into `titles`.
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

# Words that make a name an organisation's ("Kloof Gold Mining Co ( South Africa )").
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

# Labels whose names do not end in a number (an organisation may end in one digit: "Channel 4").
NUMBERLESS_LABELS = frozenset({"PERSON", "GPE", "LOC", "FAC", "NORP", "ORG"})
# A line with this many numbers is a results or table line: numbers there are scores.
RESULTS_LINE_NUMBERS = 2
# A dateline is on one of the first lines of a story.
DATELINE_LINES = 3
# How far before a name a title may start ("Iran's Supreme Leader, Ayatollah ..."), in characters.
TITLE_WINDOW = 60

_TITLE_ALTERNATION = "|".join(re.escape(t) for t in sorted(TITLES, key=len, reverse=True))
_LEADING_TITLE = re.compile(rf"(?:{_TITLE_ALTERNATION})\s+")
_CONTEXT_TITLE = re.compile(rf"(?:^|(?<=[\s,(’'\"“]))({_TITLE_ALTERNATION})(?:\s*,)?\s+$")
_COMMA_SUFFIX = re.compile(r"^(?:Inc|Ltd|Co|Corp|LLC|LLP|plc|PLC|SA|AG|NV|Jr|Sr|DC|D\.C)\.?$")
_SEPARATOR = re.compile(r"\s+[-–—:]\s+|\s*/\s*|\s*[;|]\s*|\s*\n\s*|\[|\]")
_COMMA = re.compile(r"\s*,\s*")
_LEADING_PUNCT = "\"'“‘«([{-–—*•·"
_TRAILING_PUNCT = "\"'”’»)]}.,;:!?-–—*"
_POSSESSIVE = re.compile(r"\s?['’]s?$")
_ABBREVIATION = re.compile(r"(?:[A-Za-z]\.)+|[A-Z][a-z]{0,3}\.")
_PARTICLE_PREFIX = re.compile(r"^(?:al|el|de|d|l|bin|ibn|van|von)['’-]")
_NUMBER = re.compile(r"[\d.,:+/%-]*\d[\d.,:+/%-]*(?:st|nd|rd|th|s)?")
_DIGITS = re.compile(r"\d+")
_ACRONYM = re.compile(r"(?:[A-Z]\.){2,}|[A-Z][A-Z&]{1,7}[0-9]?")
_PAREN_ACRONYM = re.compile(r"\s*\(\s*((?:[A-Z]\.){2,}|[A-Z][A-Z&]{1,9})\s*\)")
_WORD = re.compile(r"[^\W\d_][\w'’.&-]*")
_LOWER_WORD = re.compile(r"(?<![\w-])[a-z][\w'’]*(?![\w-])")
# A word after a name that says the name is a place ("the Caucasus region").
_PLACE_NOUN = re.compile(
    r"\s+(?:region|regions|mountains|valley|peninsula|desert|sea|coast|basin|province|highlands)\b"
)
# A score right after a name ("Somerset 83", "Surrey 429-7"), not a date or a quantity.
_SCORE = re.compile(
    r"\s+(?!\d{4}-\d\d-\d\d)\d{1,3}(?:-\d{1,3})?(?=\s|$|[,.;)])(?!\s*(?:km|miles|kg|%|percent|per))"
)
# A dateline: "LONDON 1996-08-30", "KHASAVYURT , Russia 1996-08-31", "MOSCOW (Reuters) -",
# "WASHINGTON, Sept 20 -". The capitalised place is where the story was filed.
_DATELINE = re.compile(
    r"^[ \t]*(?P<place>[A-Z][A-Z.'’-]+(?:[ \t]+[A-Z][A-Z.'’-]+){0,3})"
    r"(?:[ \t]*,[ \t]*(?P<region>[A-Z][A-Za-z.'’-]+(?:[ \t]+[A-Z][A-Za-z.'’-]+){0,2}))?"
    r"[ \t]*,?[ \t]*(?:\d{4}-\d\d-\d\d|\([A-Za-z][\w .-]*\)[ \t]*[-–—]"
    r"|(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?[ \t]+\d{1,2}\b)",
    re.MULTILINE,
)
# A results listing: "8 - Lindsay Davenport ( U.S. ) beat ...": a name, then a country in brackets.
_NAME_COUNTRY = re.compile(
    r"(?<![\w.'’-])((?:[A-Z][\w'’.-]*[ \t]+){1,3}[A-Z][\w'’-]*[a-z][\w'’-]*)"
    r"[ \t]*\([ \t]*([A-Z][\w .'’-]{1,30}?)[ \t]*\)"
)
_NEXT_WORD_CAPITALISED = re.compile(r"\s+(?:[A-Z][a-z]|&)")
_CAPITALISED_BEFORE = re.compile(r"([A-Z][\w'’-]*)\s+$")
_SENTENCE_START = re.compile(r"(?:^|[.!?:\"“”]\s*|\n\s*)$")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One span from the model (or the gazetteer's entity ruler), offsets into the text."""

    start: int
    end: int
    label: str
    entry_id: str | None = None


@dataclass(slots=True)
class Span:
    """A repaired mention."""

    start: int
    end: int
    label: str
    entry_id: str | None = None
    titles: tuple[str, ...] = ()
    # Found by rule rather than labelled by the model: half a vote.
    inferred: bool = False


@dataclass(slots=True)
class Resolved:
    """One entity of a text, before identifiers and salience are attached."""

    name: str
    type: EntityType
    mentions: list[tuple[int, int]]
    titles: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    entry: KnowledgeEntry | None = None
    place: Place | None = None


def resolve(
    text: str,
    candidates: Sequence[Candidate],
    *,
    places: PlaceIndex,
    gazetteer: KnowledgeBase | None = None,
    cased: str | None = None,
    find_missed: bool = True,
    rules: LanguageRules | None = None,
) -> list[Resolved]:
    """The entities of one text, in order of first mention.

    `cased` is the text as the model read it (ALL-CAPS lines re-cased, same length); names are
    chosen from it while mentions keep the original spelling. `rules` are another language's
    titles, particles and noise words (`languages.RULES`); None is English.
    """
    cased = text if cased is None else cased
    context = ctx.read_context(text)
    datelines = dateline_spans(text)
    candidates = club_name_candidates(text, candidates, places, rules)
    candidates = known_name_candidates(text, candidates, places, context)
    candidates = [
        c
        for c in results_listing_candidates(text, candidates, places)
        if not _overlaps(datelines, c.start, c.end)
    ]
    spans, links = repair(text, candidates, places, rules)
    link_parenthesised_acronyms(text, spans, links, places)
    clusters = cluster(text, spans, links, places)
    types = [vote(text, spans, members, places, context) for members in clusters]
    ordinary = lower_case_words(cased)
    kept = [i for i, members in enumerate(clusters) if not _is_ordinary_word(cased, spans, members, ordinary)]
    clusters = [clusters[i] for i in kept]
    types = [types[i] for i in kept]
    _attach_datelines(text, datelines, spans, clusters, types)
    if find_missed:
        taken = [(c.start, c.end) for c in candidates]
        add_missed_mentions(cased, spans, clusters, types, taken, ordinary, places)
    entities = [
        _name(text, cased, spans, members, kind, places, gazetteer)
        for members, kind in zip(clusters, types, strict=True)
    ]
    return _merge_same_identity(entities)


# 1. Structure ------------------------------------------------------------------------------


def dateline_spans(text: str) -> list[tuple[int, int]]:
    """The place (and its region) of a dateline on one of the first lines."""
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


def results_listing_candidates(
    text: str, candidates: Sequence[Candidate], places: PlaceIndex
) -> list[Candidate]:
    """Names followed by '( Country )' are people (results listings): add or relabel them."""
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
            continue  # the gazetteer's name, or a longer one the model saw: leave it
        # The model's pieces ("Natalia" GPE, "Karimova" GPE) give way to the whole name.
        replaced = {id(c) for c in inside}  # by identity: dataclass equality is slow here
        out = [c for c in out if id(c) not in replaced]
        out.append(Candidate(start, end, "PERSON"))
    return sorted(out, key=lambda c: c.start)


def known_name_candidates(
    text: str, candidates: Sequence[Candidate], places: PlaceIndex, context: ctx.TextContext
) -> list[Candidate]:
    """Add the house knowledge base's places and the sides of sports tables the model missed.

    A side replaces the model's pieces inside it, except a person's full name ("Nick Faldo
    67 68") and a house name.
    """
    out = list(candidates)
    named = [(span, "ORG") for span in ctx.side_spans(text, context)]
    named.extend((span, "ORG") for span in ctx.organisation_spans(text))
    named.extend((span, "PERSON") for span in ctx.player_spans(text, context))
    for (start, end), label in named:
        inside = [c for c in out if c.start < end and start < c.end]
        if any(
            c.entry_id is not None
            or c.start < start
            or c.end > end
            # A person's full name in a table is a player, unless the story is a team sport's.
            or (
                label == "ORG"
                and not context.team_sport
                and c.label == "PERSON"
                and " " in text[c.start : c.end].strip()
            )
            for c in inside
        ):
            continue
        replaced = {id(c) for c in inside}  # by identity: dataclass equality is slow here
        out = [c for c in out if id(c) not in replaced]
        out.append(Candidate(start, end, label))
    taken = bytearray(len(text) + 1)
    for c in out:
        taken[c.start : c.end] = b"\x01" * (c.end - c.start)
    for start, end in places.house_matches(text):
        if not any(taken[start:end]):
            out.append(Candidate(start, end, "GPE"))
    return sorted(out, key=lambda c: c.start)


# French names a club by its nickname and its town, "les Canadiens de Montréal", "Heat de Miami",
# "Rangers du Texas": the model reads two names, the nickname (as anything) and the place.
_CLUB_JOINER = re.compile(r"\s+(?:de|du|des|de\s+la|d['’])\s*")
_CLUB_LABELS = frozenset({"ORG", "MISC", "LOC", "GPE", "NORP"})
_CLUB_MISREAD_LABELS = _CLUB_LABELS - {"ORG"}  # a whole club name read as a place or thing
_CAPITALISED_WORDS = re.compile(r"[A-ZÀ-Þ][\w.-]*(?:\s+[A-ZÀ-Þ][\w.-]*){0,2}")


def club_name_candidates(
    text: str, candidates: Sequence[Candidate], places: PlaceIndex, rules: LanguageRules | None
) -> list[Candidate]:
    """A nickname span followed by "de <place>" becomes one organisation span, when the
    language names clubs so (`rules.club_names`), the place is known, the nickname is one to
    three capitalised words, none of them a place or a place noun ("Province", "Île")."""
    if rules is None or not rules.club_names:
        return list(candidates)
    out: list[Candidate] = []
    i = 0
    while i < len(candidates):
        head = candidates[i]
        tail = candidates[i + 1] if i + 1 < len(candidates) else None
        if head.entry_id is not None:
            out.append(head)
            i += 1
            continue
        if (
            tail is not None
            and tail.entry_id is None
            and head.label in _CLUB_LABELS
            and tail.label in ("LOC", "GPE")
            and _CLUB_JOINER.fullmatch(text, head.end, tail.start) is not None
            and _is_club(text, (head.start, head.end), (tail.start, tail.end), places, rules)
        ):
            out.append(Candidate(head.start, tail.end, "ORG"))
            i += 2
            continue
        # The model may also read the whole club name as one place or thing.
        joiner = _CLUB_JOINER.search(text, head.start, head.end)
        if (
            head.label in _CLUB_MISREAD_LABELS
            and joiner is not None
            and _is_club(text, (head.start, joiner.start()), (joiner.end(), head.end), places, rules)
        ):
            out.append(Candidate(head.start, head.end, "ORG"))
        else:
            out.append(head)
        i += 1
    return out


def _is_club(
    text: str,
    nickname_span: tuple[int, int],
    place_span: tuple[int, int],
    places: PlaceIndex,
    rules: LanguageRules,
) -> bool:
    nickname = text[slice(*nickname_span)].strip()
    if _CAPITALISED_WORDS.fullmatch(nickname) is None:
        return False
    words = nickname.split()
    if any(w.casefold() in rules.place_nouns or places.is_strong_place(w) for w in words):
        return False
    return not places.is_strong_place(nickname) and places.identify(text[slice(*place_span)]) is not None


# 2. Repair ---------------------------------------------------------------------------------


def repair(
    text: str, candidates: Sequence[Candidate], places: PlaceIndex, rules: LanguageRules | None = None
) -> tuple[list[Span], list[tuple[int, int]]]:
    """Repaired spans, and pairs of span indexes known to name one entity ("X (ACR")."""
    spans: list[Span] = []
    links: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()

    def add(span: Span | None) -> int | None:
        if span is None or (span.start, span.end) in seen:
            return None
        seen.add((span.start, span.end))
        spans.append(span)
        return len(spans) - 1

    for cand in candidates:
        if cand.label in VALUE_LABELS:
            continue
        if cand.entry_id is not None:  # the house gazetteer's own name: trust its extent
            start, end = _strip(text, cand.start, cand.end)
            if end > start:
                add(Span(start, end, cand.label, cand.entry_id))
            continue
        for part in _split_on(_SEPARATOR, text, cand.start, cand.end):
            for piece in _split_commas(text, *part):
                head, acronym = _split_parenthesis(text, *piece)
                indexes = [
                    add(_make_span(text, token_piece, cand.label, rules))
                    for token_piece in _split_tokens(text, *head, cand.label, rules)
                ]
                if acronym is None:
                    continue
                acronym_index = add(_make_span(text, acronym, cand.label, rules))
                surface = text[acronym[0] : acronym[1]].strip()
                if (
                    indexes
                    and indexes[-1] is not None
                    and acronym_index is not None
                    and is_acronym(surface)
                    and places.country(surface) is None
                ):
                    links.append((indexes[-1], acronym_index))
    return spans, links


def _make_span(
    text: str, piece: tuple[int, int], label: str, rules: LanguageRules | None = None
) -> Span | None:
    start, end = _strip(text, *piece)
    if rules is not None:
        start, end = rules.trim(text, start, end, label, piece[0])
    if end <= start:
        return None
    titles: tuple[str, ...] = ()
    if label == "PERSON":
        name_start, leading = _strip_leading_titles(text, start, end, rules)
        titles = (*_titles_before(text, start, rules), *leading)
        start = name_start
    if is_noise(text, start, end) or (rules is not None and rules.is_noise(text, start, end)):
        return None
    return Span(start, end, label, titles=titles)


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    """Trim spaces, quotes, brackets, trailing punctuation, a possessive and a leading 'the'."""
    while True:
        before = (start, end)
        while start < end and (text[start].isspace() or text[start] in _LEADING_PUNCT):
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start and text[end - 1] in _TRAILING_PUNCT:
            last = text[start:end].rsplit(None, 1)[-1]
            if not (text[end - 1] == "." and _ABBREVIATION.fullmatch(last)):  # "U.S.", "Inc."
                end -= 1
        possessive = _POSSESSIVE.search(text, start, end)
        if possessive and possessive.start() > start:
            end = possessive.start()
        if text[start : min(start + 4, end)] in ("the ", "The ", "THE "):
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
    """Names do not contain commas, except before a suffix ("Foo, Inc.", "Washington, D.C.")."""
    merged: list[tuple[int, int]] = []
    for s, e in _split_on(_COMMA, text, start, end):
        if merged and _COMMA_SUFFIX.match(text[s:e].strip()):
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def _split_parenthesis(text: str, start: int, end: int) -> tuple[tuple[int, int], tuple[int, int] | None]:
    """'X (ACR' or 'X (ACR)' -> X and ACR; a stray closing bracket is cut off."""
    opening = text.find("(", start, end)
    if opening < 0:
        closing = text.find(")", start, end)
        return ((start, closing) if closing > start else (start, end)), None
    closing = text.find(")", opening, end)
    inner = (opening + 1, closing if closing >= 0 else end)
    return (start, opening), (inner if text[inner[0] : inner[1]].strip() else None)


def _split_tokens(
    text: str, start: int, end: int, label: str, rules: LanguageRules | None = None
) -> list[tuple[int, int]]:
    """Cut a span at lower-case words that cannot sit inside a name, and at scores.

    People, places and organisations do not end in a number ("Durham 114", "Mexico 2-0"), but an
    organisation may end in one digit ("Channel 4") and other names in any number ("Euro 96"),
    except in a results line, where every number is a score.
    """
    pieces: list[tuple[int, int]] = []
    current: tuple[int, int] | None = None
    results = _in_results_line(text, start)
    connectors = NAME_CONNECTORS if rules is None else rules.connectors
    split_lowercase = rules is None or label in rules.split_lowercase
    for token in re.finditer(r"\S+", text[start:end]):
        s, e = start + token.start(), start + token.end()
        bare = token.group().strip(_LEADING_PUNCT + _TRAILING_PUNCT)
        if _NUMBER.fullmatch(bare):
            breaks = results or label in NUMBERLESS_LABELS
            if label == "ORG" and not results and len(bare) == 1 and e == end:
                breaks = False
        else:
            breaks = (
                split_lowercase
                and bare.islower()
                and bare.casefold() not in connectors
                and not _PARTICLE_PREFIX.match(bare)
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


def _titles_before(text: str, start: int, rules: LanguageRules | None = None) -> tuple[str, ...]:
    """A title written just before a person's name: "Iran's Supreme Leader, Ayatollah ..."."""
    line_start = text.rfind("\n", 0, start) + 1
    pattern = _CONTEXT_TITLE if rules is None else rules.context_title
    match = pattern.search(text[max(line_start, start - TITLE_WINDOW) : start])
    return (match.group(1),) if match else ()


def _strip_leading_titles(
    text: str, start: int, end: int, rules: LanguageRules | None = None
) -> tuple[int, tuple[str, ...]]:
    """Titles at the start of a name: "Ayatollah Ali Khamenei" -> "Ali Khamenei", ("Ayatollah",).

    A title alone is left as it is (the name "Prince").
    """
    titles: list[str] = []
    pattern = _LEADING_TITLE if rules is None else rules.leading_title
    while True:
        match = pattern.match(text, start, end)
        if not match or match.end() >= end:
            return start, tuple(titles)
        titles.append(match.group().strip())
        start = match.end()


def is_noise(text: str, start: int, end: int) -> bool:
    """Spans that name nothing: lower case only, numbers, generic words, headers, photo credits."""
    surface = text[start:end]
    if not any(c.isupper() for c in surface) or sum(c.isalpha() for c in surface) < 2:
        return True
    words = surface.split()
    if len(words) == 1 and name_key(surface) in GENERIC_WORDS:
        return True
    if len(words) >= 3 and all(len(w) <= 3 and w.isupper() for w in words):
        return True  # a table header: "W D L PCT GB"
    # A photo credit: "[KREMLIN PRESS OFFICE/Anadolu Agency]" -- an ALL-CAPS part beside a slash.
    beside_slash = text[max(0, start - 2) : start].rstrip().endswith("/") or text[
        end : end + 2
    ].lstrip().startswith("/")
    return beside_slash and surface.isupper() and len(surface) > 3


def link_parenthesised_acronyms(
    text: str, spans: list[Span], links: list[tuple[int, int]], places: PlaceIndex
) -> None:
    """'the Shanghai Cooperation Organisation (SCO)': SCO is a mention of the expansion.

    When only the end of a longer name spells the acronym ('Aerospace Forces of the Islamic
    Revolutionary Guards Corps (IRGC)') that end becomes a mention of its own, inside the
    longer one.
    """
    by_position = {(s.start, s.end): i for i, s in enumerate(spans)}

    def index_of(start: int, end: int, label: str) -> int:
        found = by_position.get((start, end))
        if found is None:
            found = by_position[(start, end)] = len(spans)
            spans.append(Span(start, end, label, inferred=True))
        return found

    for index in range(len(spans)):
        span = spans[index]
        match = _PAREN_ACRONYM.match(text, span.end)
        if span.label == "PERSON" or not match or places.country(match.group(1)):
            continue  # "Lindsay Davenport ( U.S. )" is a nationality, not an acronym
        letters = acronym_letters(match.group(1))
        target = index
        if initials(text[span.start : span.end]) != letters:
            for word in list(_WORD.finditer(text, span.start, span.end))[1:]:
                if word.group()[0].isupper() and initials(text[word.start() : span.end]) == letters:
                    target = index_of(word.start(), span.end, span.label)
                    break
        links.append((target, index_of(*match.span(1), span.label)))


# 3. Clustering -----------------------------------------------------------------------------


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
    """The spans that share one normalised surface."""

    surface: str
    indexes: list[int]
    labels: Counter[str]
    tokens: tuple[str, ...]


def cluster(
    text: str, spans: Sequence[Span], links: Iterable[tuple[int, int]], places: PlaceIndex
) -> list[list[int]]:
    """Span indexes grouped into entities."""
    groups: dict[str, _Group] = {}
    for i, span in enumerate(spans):
        surface = _surface(text, span)
        group = groups.get(name_key(surface))
        if group is None:
            tokens = tuple(t.casefold() for t in surface.replace("’", "'").split())
            group = groups[name_key(surface)] = _Group(surface, [], Counter(), tokens)
        group.indexes.append(i)
        group.labels[span.label] += 1
    uf = _UnionFind(len(spans))
    for group in groups.values():
        for i in group.indexes[1:]:
            uf.union(group.indexes[0], i)
    for a, b in links:
        uf.union(a, b)

    # Country aliases: "US", "U.S." and "the United States" are one place.
    by_country: dict[str | None, int] = {}
    for group in groups.values():
        country = places.country(group.surface)
        if country is not None:
            uf.union(by_country.setdefault(country.iso3166_alpha2, group.indexes[0]), group.indexes[0])

    # An acronym and the one multi-word name in the text whose initials spell it.
    for group in groups.values():
        if not is_acronym(group.surface) or places.country(group.surface):
            continue
        letters = acronym_letters(group.surface)
        roots = {
            uf.find(other.indexes[0])
            for other in groups.values()
            if len(other.tokens) > 1
            and set(other.labels) != {"PERSON"}
            and initials(other.surface) == letters
        }
        if len(roots) == 1:
            uf.union(group.indexes[0], roots.pop())

    # Part of a person's name ("Shoygu", or "Wang" of "Wang Donghai") joins the one full name it
    # belongs to; longer parts first, so "Reza Ashtiani" and "Ashtiani" end in one entity.
    people = [g for g in groups.values() if len(g.tokens) > 1 and g.labels["PERSON"]]
    for group in sorted(groups.values(), key=lambda g: len(g.tokens), reverse=True):
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


# 4. Typing ---------------------------------------------------------------------------------


def vote(
    text: str,
    spans: Sequence[Span],
    members: Sequence[int],
    places: PlaceIndex,
    context: ctx.TextContext | None = None,
) -> EntityType:
    """One type for an entity: what is known about the name first, then the model's votes.

    Person evidence is a title or a full name read as a person; without it a known place is a
    place, and in sports news a town or county named as a side is a team.
    """
    context = context or ctx.TextContext(sports=False)
    surfaces = [_surface(text, spans[i]) for i in members]
    if {name_key(s) for s in surfaces} & ORGANISATION_ACRONYMS:
        return EntityType.ORGANISATION
    house = [p for p in map(places.house, surfaces) if p is not None]
    countries = any(places.country(s) for s in surfaces)
    if not house and not countries and any(ctx.organisation_shaped(s) for s in surfaces):
        return EntityType.ORGANISATION  # "Port of Rotterdam", "Atlantic Ports Council"
    votes = dict.fromkeys(EntityType, 0.0)
    full_name = False
    for i, surface in zip(members, surfaces, strict=True):
        kind = LABEL_TYPES.get(spans[i].label, EntityType.OTHER)
        weight = 0.5 if spans[i].inferred else 1.0
        if kind is EntityType.PERSON and " " in surface and not places.country(surface):
            full_name, weight = True, 2.0  # a full name labelled as a person settles it ("Sri Lanka" not)
        votes[kind] += weight
    acronym = any(is_acronym(s) for s in surfaces)
    # An acronym of an organisation spelt out in the text is that organisation, even if it
    # looks like a country's or city's name.
    expanded = acronym and any(" " in s and not places.country(s) for s in surfaces)
    mentions = [(spans[i].start, spans[i].end) for i in members]
    titled = any(spans[i].titles for i in members)
    if not titled and not countries and any(ctx.place_noun_after(text, e) for _, e in mentions):
        return EntityType.PLACE  # "the Wilhelminakade terminal", "the Kop van Zuid district"
    # "Peniche, Portugal": not in sports results, where "Name, Country" lists athletes.
    if (
        not (titled or full_name or countries or context.sports)
        and votes[EntityType.PERSON] < max(votes.values())
        and any(ctx.country_after(text, e, places) for _, e in mentions)
    ):
        return EntityType.PLACE
    if full_name:
        return EntityType.PERSON
    if not expanded and any(places.country(s) for s in surfaces):
        return EntityType.PLACE
    if context.sports and ctx.is_team(text, mentions, surfaces, places):
        return EntityType.ORGANISATION
    best = max(votes.values())
    if any(_followed_by_score(text, spans[i].end) for i in members) and (
        any(places.lookup(s) for s in surfaces) or votes[EntityType.PERSON] < best
    ):
        return EntityType.ORGANISATION  # "Atlanta 4 Florida 2": teams named after their places
    # A large city's or a house place's name is a place, unless a title says it is a person, or
    # the model reads a person where the text names people of that surname ("Erasmus Darwin",
    # "Robert Darwin" ... "Darwin observe"): which of them is unclear, that it is a person is not.
    if (
        not expanded
        and not titled
        and any(places.is_strong_place(s) for s in surfaces)
        and not (votes[EntityType.PERSON] == best and _surname_of_people(text, spans, surfaces))
    ):
        return EntityType.PLACE
    # Any known place, by any of its names, where the words around it say it is one ("the
    # Alcântara terminal", "the city of Arbil").
    if (
        not expanded
        and not titled
        and any(ctx.place_evidence(text, s, e) for s, e in mentions)
        and any(places.identify(s) for s in surfaces)
    ):
        return EntityType.PLACE
    if votes[EntityType.OTHER] >= best and any(_PLACE_NOUN.match(text, spans[i].end) for i in members):
        return EntityType.PLACE  # "the Caucasus region", which the model calls a group
    order = [EntityType.PERSON, EntityType.ORGANISATION, EntityType.PLACE, EntityType.OTHER]
    if acronym:  # a tie on an acronym: organisations are the ones known by initials
        order.insert(0, EntityType.ORGANISATION)
    return next(kind for kind in order if votes[kind] == best)


def _surname_of_people(text: str, spans: Sequence[Span], surfaces: Sequence[str]) -> bool:
    single = {s for s in surfaces if " " not in s}
    return bool(single) and any(
        span.label == "PERSON" and " " in (full := _surface(text, span)) and full.rsplit(" ", 1)[1] in single
        for span in spans
    )


def _followed_by_score(text: str, end: int) -> bool:
    """A results line: the name is followed by a score and the line has other numbers."""
    return _SCORE.match(text, end) is not None and len(_DIGITS.findall(_line(text, end))) >= 2


def _is_ordinary_word(
    text: str, spans: Sequence[Span], members: Sequence[int], ordinary: frozenset[str]
) -> bool:
    """A one-word name that the same text also writes in lower case ("Win" and "win")."""
    surfaces = {text[spans[i].start : spans[i].end] for i in members}
    if len(surfaces) != 1 or any(spans[i].entry_id for i in members):
        return False
    surface = surfaces.pop()
    if " " in surface or is_acronym(surface) or not surface[:1].isupper():
        return False
    return surface.lower() in ordinary


def _attach_datelines(
    text: str,
    datelines: Sequence[tuple[int, int]],
    spans: list[Span],
    clusters: list[list[int]],
    types: list[EntityType],
) -> None:
    """A dateline place joins the place of that name; never a team or company named after it."""
    for start, end in datelines:
        key = name_key(text[start:end])
        spans.append(Span(start, end, "GPE"))
        for members, kind in zip(clusters, types, strict=True):
            if kind is EntityType.PLACE and any(name_key(_surface(text, spans[i])) == key for i in members):
                members.append(len(spans) - 1)
                break
        else:
            clusters.append([len(spans) - 1])
            types.append(EntityType.PLACE)


# Mentions the model missed -----------------------------------------------------------------


def add_missed_mentions(
    cased: str,
    spans: list[Span],
    clusters: list[list[int]],
    types: Sequence[EntityType],
    taken: Sequence[tuple[int, int]],
    ordinary: frozenset[str],
    places: PlaceIndex,
) -> None:
    """Add the occurrences of each entity's names that the model did not tag.

    Not for names that are also ordinary words in this text, nor where the occurrence is part
    of a longer capitalised name ("Iran Air"), nor where the model tagged something else.
    """
    occupied = [*taken, *((s.start, s.end) for s in spans)]
    owners: dict[str, int] = {}
    surnames: dict[str, set[int]] = {}
    for number, (members, kind) in enumerate(zip(clusters, types, strict=True)):
        if kind is EntityType.OTHER:
            continue
        for i in members:
            surface = cased[spans[i].start : spans[i].end]
            if "\n" in surface or (len(surface) < 3 and not is_acronym(surface)):
                continue
            if (surface.isupper() and not is_acronym(surface)) or _all_ordinary(surface, ordinary):
                continue
            owners.setdefault(surface, number)
            words = surface.split()
            if kind is EntityType.PERSON and len(words) > 1 and len(words[-1]) > 2:
                surnames.setdefault(words[-1], set()).add(number)
    # A person's surname alone ("Lebed" of "Alexander Lebed"), when only one person has it.
    for surname, numbers in surnames.items():
        if len(numbers) == 1 and not _all_ordinary(surname, ordinary) and not places.country(surname):
            owners.setdefault(surname, numbers.pop())
    if not owners:
        return
    alternation = "|".join(re.escape(s) for s in sorted(owners, key=len, reverse=True))
    for match in re.finditer(rf"(?<![\w&'’.-])({alternation})(?![\w&-]|['’]\w\w)", cased):
        start, end = match.span()
        if _overlaps(occupied, start, end) or _NEXT_WORD_CAPITALISED.match(cased, end):
            continue
        before = _CAPITALISED_BEFORE.search(cased, max(0, start - 30), start)
        if (
            before
            and not _SENTENCE_START.search(cased, max(0, before.start() - 4), before.start())
            and not _LEADING_TITLE.match(before.group(1) + " ")
        ):
            continue  # inside a longer name the model did not see
        number = owners[match.group(1)]
        clusters[number].append(len(spans))
        spans.append(Span(start, end, spans[clusters[number][0]].label, inferred=True))
        occupied.append((start, end))


def lower_case_words(text: str) -> frozenset[str]:
    """The words a text writes in lower case: its ordinary words."""
    return frozenset(_LOWER_WORD.findall(text))


def _all_ordinary(surface: str, ordinary: frozenset[str]) -> bool:
    return all(word in ordinary for word in surface.lower().split())


# 5. Naming ---------------------------------------------------------------------------------


def _name(
    text: str,
    cased: str,
    spans: Sequence[Span],
    members: Sequence[int],
    kind: EntityType,
    places: PlaceIndex,
    gazetteer: KnowledgeBase | None,
) -> Resolved:
    members = sorted(members, key=lambda i: (spans[i].start, -spans[i].end))
    surfaces = [_surface(text, spans[i]) for i in members]
    entry = None
    if gazetteer is not None:
        ids = [entry_id for i in members if (entry_id := spans[i].entry_id)]
        entry = gazetteer.get(ids[0]) if ids else None
        entry = entry or next(filter(None, map(gazetteer.lookup, surfaces)), None)
    kind = entry.type if entry is not None else kind
    place = places.lookup_any(surfaces) if kind is EntityType.PLACE else None
    if entry is not None:
        name = entry.name
    elif place is not None and place.kind == "country":
        name = place.name  # "Iran", not "Islamic Republic of Iran"
    else:
        name = canonical_name([_surface(cased, spans[i]) for i in members])
        if name.isupper():  # only ever shouted: "LONDON" -> "London", "NEW YORK" -> "New York"
            if place is not None and name_key(place.name) == name_key(name):
                name = place.name
            elif " " in name:
                name = string.capwords(name)  # one word may be an acronym: it stays
    # One alias per spelling, preferring the form written in mixed case.
    forms: dict[str, str] = {}
    for surface in surfaces:
        key = name_key(surface)
        if key != name_key(name) and (key not in forms or forms[key].isupper()):
            forms[key] = surface
    return Resolved(
        name=name,
        type=kind,
        mentions=[(spans[i].start, spans[i].end) for i in members],
        titles=list(dict.fromkeys(t for i in members for t in spans[i].titles)),
        aliases=list(forms.values()),
        entry=entry,
        place=place,
    )


def canonical_name(surfaces: Sequence[str]) -> str:
    """The longest proper full form: not an acronym, mixed case, most words, most letters."""
    return max(
        enumerate(surfaces),
        key=lambda item: (
            not is_acronym(item[1]),
            not item[1].isupper(),
            len(item[1].split()),
            len(item[1]),
            -item[0],
        ),
    )[1]


def _merge_same_identity(entities: list[Resolved]) -> list[Resolved]:
    """Entities that end with the same id (one canonical name and type) are one entity."""
    merged: dict[str, Resolved] = {}
    for entity in entities:
        identity = entity.entry.id if entity.entry else entity_id(entity.type, entity.name)
        known = merged.get(identity)
        if known is None:
            merged[identity] = entity
            continue
        known.mentions = sorted({*known.mentions, *entity.mentions})
        known.titles = list(dict.fromkeys([*known.titles, *entity.titles]))
        known.aliases = [a for a in dict.fromkeys([*known.aliases, *entity.aliases]) if a != known.name]
        known.place = known.place or entity.place
    return sorted(merged.values(), key=lambda e: min(e.mentions))


# Helpers -----------------------------------------------------------------------------------


def is_acronym(text: str) -> bool:
    return _ACRONYM.fullmatch(text) is not None


def initials(text: str) -> str:
    """Initials of the capitalised words: 'Bank of England' -> 'BE'."""
    return "".join(w[0] for w in _WORD.findall(text) if w[0].isupper()).upper()


def acronym_letters(text: str) -> str:
    return re.sub(r"[^A-Za-z]", "", text).upper()


def _surface(text: str, span: Span) -> str:
    return " ".join(text[span.start : span.end].split())


def _overlaps(occupied: Sequence[tuple[int, int]], start: int, end: int) -> bool:
    return any(s < end and start < e for s, e in occupied)

"""What the words around a name say it is: the rules no list knows.

- a name in the shape of an organisation ("Port of Rotterdam", "Atlantic Ports Council",
  "Interior Ministry", "Boatmen's Bancshares Inc") is an organisation;
- a known place with place evidence ("in the Azores", "beside the Tagus", "the Alcântara
  terminal") and no person evidence (a title, a full name read as a person) is a place;
- in sports news a town, county or region named as a side ("Leicestershire beat Somerset",
  a row of a league table, "Bradford 1 Tranmere 0") is a team, an organisation; countries stay
  places (national sides are written as their country).

Pure functions of the text and the place index.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from services.enrich.identifiers import PlaceIndex

# The last word of an organisation's name: bodies, companies and institutions.
ORGANISATION_HEADS = frozenset(
    {
        "council", "ministry", "university", "bank", "bancshares", "bancorp", "authority",
        "commission", "committee", "association", "federation", "party", "company",
        "corporation", "corp", "inc", "ltd", "plc", "llc", "co", "ag", "nv", "spa", "gmbh",
        "group", "holdings", "agency", "institute", "board", "court", "police", "army",
        "airlines", "airways", "exchange", "fund", "foundation", "trust", "league", "alliance",
        "front", "movement", "organisation", "organization", "office", "department",
        "parliament", "assembly", "senate", "congress", "tribunal", "newsroom", "bureau",
        "newsdesk", "service", "services", "industries", "motors", "electronics", "systems",
        "pharmaceuticals", "technologies", "communications", "telecom", "securities",
        "capital", "partners", "insurance", "club", "fc", "brothers", "bros", "network",
    }
)  # fmt: skip
# "Port of X", "Bank of X", "University of X", "Ministry of X": organisations by their head.
_ORGANISATION_OF = re.compile(
    r"^(?:Port|Bank|University|Ministry|Council|Department|Office|Commission|Federation|"
    r"Association|Union|Institute|Board|Court|Church|House|Chamber|Academy|College|Order)"
    r"\s+(?:of|for)\s+\S"
)
# Words before a name that say it is where something happens, not who does it.
_LOCATIVE_BEFORE = re.compile(
    r"(?:^|[\s(])(?:in|at|near|beside|outside|across|around|off|towards|toward|into|from|"
    r"throughout|inside|via|between|to|(?:city|town|village|port|province|region|state|"
    r"capital|island|district)\s+of)\s+(?:the\s+)?$",
    re.IGNORECASE,
)
# Words after a name that say it is a place ("the Alcântara terminal", "Kop van Zuid district").
_PLACE_AFTER = re.compile(
    r"\s+(?:terminal|district|quay|harbour|harbor|port|docks|waterfront|neighbourhood|"
    r"neighborhood|suburb|area|region|province|county|island|islands|coast|river|valley|"
    r"peninsula|border|airport|station|municipality|village|town)\b"
)
# Nouns no person's name is followed by: "the Wilhelminakade terminal", "Kop van Zuid district".
_PLACE_NOUN_AFTER = re.compile(
    r"\s+(?:terminal|district|quay|neighbourhood|neighborhood|suburb|municipality|province|"
    r"peninsula|waterfront)\b"
)
# "Peniche , Portugal": a place, then the country it is in.
_THEN_COUNTRY = re.compile(
    r"[ \t]*,[ \t]*(?:the[ \t]+)?([A-Z][\w.-]*(?:[ \t]+[A-Z][\w.-]*){0,2})(?=[ \t]*(?:[,.;:)\n]|$|on\b|in\b))"
)
# A venue heading a results line ("Leicester : Leicestershire beat Somerset").
_VENUE = re.compile(r"[ \t]*(?:\([^)\n]{1,40}\)[ \t]*)?:")
# A story's first line names its sport in Reuters style ("SOCCER - ...", "CRICKET - ...").
_SPORTS_HEADER = re.compile(
    r"^\s*(?:SOCCER|FOOTBALL|CRICKET|RUGBY(?: UNION| LEAGUE)?|BASEBALL|BASKETBALL|"
    r"(?:ICE )?HOCKEY|AMERICAN FOOTBALL|NFL|NBA|NHL|VOLLEYBALL|HANDBALL|WATER POLO)\b"
    r"[^\n]{0,40}?\s[-–—:]\s"
)
# Words only sports reporting uses ("goals", "league", "match" and "beat" have other senses);
# this many different ones make a text sports news.
_SPORTS_WORDS = re.compile(
    r"\b(?:strikers?|midfielders?|goalkeepers?|halftime|half-time|equali[sz]er|hat-trick|"
    r"goalless|innings|wickets?|batsman|batsmen|bowlers?|bowled|inning|homers?|homered|"
    r"pitchers?|touchdowns?|quarterbacks?|standings|relegation|relegated|playoffs?|"
    r"semifinals?|quarter-finals?|semi-finals?)\b",
    re.IGNORECASE,
)
SPORTS_WORDS_NEEDED = 2
# Places no side is named after (national sides are places in news style).
NOT_SIDES = frozenset({"country", "continent", "sea", "river", "lake", "mountain"})
# A league-table row: a name, then only numbers (played, won, drawn, lost, ... points).
_TABLE_ROW = re.compile(
    r"^[ \t]*(?P<name>[A-Z][\w'’.&-]*(?:[ \t]+(?:[A-Z][\w'’.&-]*|of|de|del|la|'s|’s)){0,4})"
    r"(?:[ \t]+[-+]?\d+(?:[.,/]\d+)?|[ \t]+-|[ \t]+\.\d+){3,}[ \t]*$",
    re.MULTILINE,
)
# A results line: "Bradford 1 Tranmere 0", "Birmingham v Barnsley".
_SIDE = r"[A-Z][\w'’.&-]*(?:[ \t]+(?:[A-Z][\w'’.&-]*|of|de|'s|’s)){0,3}"
_RESULT = re.compile(
    rf"^[ \t]*(?P<home>{_SIDE})[ \t]+(?:\d{{1,3}}[ \t]+(?P<away>{_SIDE})[ \t]+\d{{1,3}}\b"
    rf"|v[ \t]+(?P<visitor>{_SIDE})(?=[ \t]*(?:[,;(]|$)))",
    re.MULTILINE,
)


# Scorers after a result: "Romania - Cosmin Contra ( 31st ) , Mihai Tararache ( 75th )".
_NAME = r"[A-Z][\w'’.-]*(?:[ \t]+(?:[A-Z][\w'’.-]*|de|da|van|von|el|al|bin)){0,3}"
_SCORER = re.compile(
    rf"(?<![\w.'’-])(?P<name>{_NAME}[ \t]+[A-Z][\w'’-]*)"
    rf"[ \t]*\([ \t]*(?:pen[ \t]+)?\d{{1,3}}(?:st|nd|rd|th)?\b"
)
# A cricket scorecard: "S. Jayasuriya c Healy b Fleming 44", "A. Ranatunga lbw b Warne 12".
_SCORECARD = re.compile(
    rf"^[ \t]*(?P<batsman>{_NAME})[ \t]+(?:c[ \t]+(?P<fielder>{_NAME})[ \t]+|lbw[ \t]+|"
    rf"st[ \t]+(?P<keeper>{_NAME})[ \t]+)?b[ \t]+(?P<bowler>{_NAME})[ \t]+\d",
    re.MULTILINE,
)

# A line-up: "7 - Didier Deschamps , 10 - Youri Djorkaeff": a squad number, then a full name.
_SQUAD = re.compile(
    r"(?:^|[,;(:-])[ \t]*\d{1,2}[ \t]+-[ \t]+(?P<name>[A-Z][\w'’.-]*(?:[ \t]+(?:[A-Z][\w'’.-]*|de|da|"
    r"van|von|der|den|le|la|el|al)){1,4})",
    re.MULTILINE,
)
# An initialled name before a figure in a scorecard: "( P. Simmons 4-38 )", "T.O'Gorman 109".
_INITIALLED = re.compile(
    r"(?<![\w.'’-])(?P<name>(?:[A-Z]\.[ \t]?){1,3}(?:de[ \t]|van[ \t])?[A-Z](?:['’][A-Z])?[a-z][\w'’-]*)"
    r"(?=[ \t]+(?:\d|not[ \t]+out\b|c[ \t]|b[ \t]|lbw\b|st[ \t]))"
)

# Capitalised words ending in a company suffix or a body's head: "Boatmen's Bancshares Inc",
# "Interior Ministry", "Bay Co Building Authority". A sentence's first word may start it.
_ORGANISATION_NAME = re.compile(
    r"(?<![\w.'’&-])(?:(?!Company\b)[A-Z][\w&.]*(?:-(?!based\b)[\w&.]+)*(?:[ \t]?['’]s)?[ \t]+"
    r"(?:(?:of|&|for)[ \t]+)?){1,5}"
    r"(?:Inc|Corp|Ltd|Plc|PLC|SpA|AB|AG|NV|GmbH|Bancshares|Bancorp|Ministry|Council|Authority|"
    r"Commission|Federation)\b\.?"
)

_LEADING_OF = re.compile(r"[A-Z][a-z]+[ \t]+of[ \t]+")
_DEMONYM = re.compile(r"[A-Z][a-z]+(?:ian|ean|an|ese|ish|ic|i)\s")


@dataclass(frozen=True, slots=True)
class TextContext:
    """What the whole text says: whether it is sports news, and a team sport's by its header."""

    sports: bool
    team_sport: bool = False


def read_context(text: str) -> TextContext:
    team_sport = _SPORTS_HEADER.match(text) is not None
    sports = team_sport or len({w.lower() for w in _SPORTS_WORDS.findall(text)}) >= SPORTS_WORDS_NEEDED
    return TextContext(sports=sports, team_sport=team_sport)


def organisation_spans(text: str) -> list[tuple[int, int]]:
    """Names whose last word makes them an organisation's, wherever they are."""
    spans = []
    for match in _ORGANISATION_NAME.finditer(text):
        start, end = match.span()
        if text.startswith(("The ", "THE "), start):
            start += 4
        lead = _LEADING_OF.match(text, start)
        if lead and _ORGANISATION_OF.match(text, start) is None and _at_sentence_start(text, start):
            start = lead.end()  # "Shares of Harbour Lights Inc": the sentence's word, not the name's
        if _DEMONYM.match(text, start):
            continue  # "German Foreign Ministry": the model's reading is better than a guess
        if " " in text[start:end].strip():
            spans.append((start, end))
    return spans


def _at_sentence_start(text: str, position: int) -> bool:
    before = text[max(0, position - 3) : position].rstrip(" \t")
    return not before or before[-1] in '.!?\n"“'


def player_spans(text: str, context: TextContext) -> list[tuple[int, int]]:
    """People in scorer lists and cricket scorecards of sports news."""
    if not context.sports:
        return []
    spans = [m.span("name") for pattern in (_SCORER, _SQUAD, _INITIALLED) for m in pattern.finditer(text)]
    for match in _SCORECARD.finditer(text):
        spans.extend(match.span(g) for g in ("batsman", "fielder", "keeper", "bowler") if match.group(g))
    return spans


def organisation_shaped(surface: str) -> bool:
    """A name whose own words make it an organisation's."""
    words = surface.replace("’", "'").split()
    if len(words) < 2:
        return False
    last = words[-1].strip(".,").casefold()
    return last in ORGANISATION_HEADS or _ORGANISATION_OF.match(surface) is not None


def place_evidence(text: str, start: int, end: int) -> bool:
    """The words around one mention say it is a place."""
    line_start = text.rfind("\n", 0, start) + 1
    before = text[max(line_start, start - 20) : start]
    return _LOCATIVE_BEFORE.search(before) is not None or _PLACE_AFTER.match(text, end) is not None


def place_noun_after(text: str, end: int) -> bool:
    """A noun after a mention that never follows a person's name ("the X terminal")."""
    return _PLACE_NOUN_AFTER.match(text, end) is not None


def country_after(text: str, end: int, places: PlaceIndex) -> bool:
    """A country after a mention and a comma, ending the phrase: "Peniche, Portugal on ..."."""
    country = _THEN_COUNTRY.match(text, end)
    return country is not None and places.country(country.group(1)) is not None


def is_venue(text: str, start: int, end: int) -> bool:
    """A name heading a line and followed by a colon: where a match was played."""
    return not text[text.rfind("\n", 0, start) + 1 : start].strip() and _VENUE.match(text, end) is not None


def side_spans(text: str, context: TextContext) -> list[tuple[int, int]]:
    """Team names in league-table rows and results lines of sports news."""
    if not context.sports:
        return []
    spans = [m.span("name") for m in _TABLE_ROW.finditer(text)]
    for match in _RESULT.finditer(text):
        spans.extend(match.span(g) for g in ("home", "away", "visitor") if match.group(g))
    return spans


def is_team(
    text: str, mentions: Sequence[tuple[int, int]], surfaces: Sequence[str], places: PlaceIndex
) -> bool:
    """A place name used as a side in sports news: not a country, not where something happens."""
    if any(places.country(s) for s in surfaces):
        return False
    known = [p for p in map(places.lookup, surfaces) if p is not None]
    if not known or any(p.kind in NOT_SIDES for p in known):
        return False
    return not any(place_evidence(text, s, e) or is_venue(text, s, e) for s, e in mentions)

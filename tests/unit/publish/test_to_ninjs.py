"""Tagged articles map to ninjs 2.2 and 3.1 documents that the official schemas accept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.publish.logic import build_published, to_ninjs
from services.publish.ninjs import Ninjs2, Ninjs3
from shared.events import (
    Entities,
    Identifiers,
    PublishedArticle,
    PubStatus,
    RelatedKind,
    TaggedArticle,
)
from tests.utils.ninjs_schema import NinjsVersion, validate_ninjs
from tests.utils.publish import (
    BASE_URL,
    TAGGER,
    full_tagged,
    person,
    place,
    raw_article,
    related,
    scenarios,
    tagged,
    withdrawn_tagged,
)

VERSIONS: list[NinjsVersion] = ["2.2", "3.1"]
SCENARIOS = scenarios()
MODELS: dict[NinjsVersion, type[Ninjs2] | type[Ninjs3]] = {"2.2": Ninjs2, "3.1": Ninjs3}
# The same property, spelt by each version.
KEYS: dict[str, dict[NinjsVersion, str]] = {
    "pubstatus": {"2.2": "pubstatus", "3.1": "pubStatus"},
    "firstcreated": {"2.2": "firstcreated", "3.1": "firstCreated"},
    "versioncreated": {"2.2": "versioncreated", "3.1": "versionCreated"},
    "ednote": {"2.2": "ednote", "3.1": "edNote"},
    "geojson": {"2.2": "geojson", "3.1": "geoJSON"},
    "contenttype": {"2.2": "contenttype", "3.1": "contentType"},
    "altids": {"2.2": "altids", "3.1": "altIds"},
}


def ninjs(article: TaggedArticle, version: NinjsVersion, **kwargs: Any) -> dict[str, Any]:
    return to_ninjs(article, ninjs_version=version, base_url=BASE_URL, **kwargs)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_mapped_document_validates_and_round_trips_through_the_model(
    name: str, version: NinjsVersion
) -> None:
    doc = ninjs(SCENARIOS[name], version)

    validate_ninjs(doc, version)
    assert MODELS[version].load(doc).dump() == doc
    assert orjson.loads(orjson.dumps(doc)) == doc  # plain JSON, as the wire carries it


def test_the_default_version_is_2_2() -> None:
    doc = to_ninjs(full_tagged(), base_url=BASE_URL)

    assert doc["standard"]["version"] == "2.2"
    validate_ninjs(doc, "2.2")


@pytest.mark.parametrize("version", VERSIONS)
def test_uri_is_stable_per_article_and_version_is_a_string(version: NinjsVersion) -> None:
    first = ninjs(tagged(raw_article(version=1)), version)
    later = ninjs(tagged(raw_article(version=3, title="Updated")), version)

    assert first["uri"] == later["uri"] == f"{BASE_URL}/articles/cms-1001"
    assert (first["version"], later["version"]) == ("1", "3")


def test_base_url_with_a_trailing_slash_and_ids_with_reserved_characters() -> None:
    article = tagged(raw_article(article_id="wire:2025/06 #1"))

    doc = to_ninjs(article, base_url=BASE_URL + "/", ninjs_version="2.2")

    assert doc["uri"] == f"{BASE_URL}/articles/wire:2025%2F06%20%231"


@pytest.mark.parametrize("base_url", ["news.example.org", "/articles", "ftp://x.example", ""])
def test_a_base_url_that_is_not_absolute_http_is_refused(base_url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        to_ninjs(full_tagged(), base_url=base_url)


@pytest.mark.parametrize("version", VERSIONS)
def test_text_fields_map_for_each_version(version: NinjsVersion) -> None:
    article = full_tagged()
    a = article.article

    doc = ninjs(article, version)

    assert doc["type"] == "text"
    assert doc["language"] == "en"
    assert doc["title"] == a.title
    assert doc["headlines"] == [{"role": "main", "value": a.title}]
    assert doc["by"] == "Anna Müller, José Álvarez"
    ct = KEYS["contenttype"][version]
    [body] = doc["bodies"]
    assert body["value"] == a.body  # non-ASCII kept as is, no escaping
    assert body[ct] == "text/plain"
    assert body["charcount" if version == "2.2" else "charCount"] == len(a.body)
    assert body["wordcount" if version == "2.2" else "wordCount"] == 11
    assert doc["descriptions"] == [
        {"role": "caption", ct: "text/plain", "value": "Anna Müller arrives in Zürich."},
        {"role": "creditline", "value": "Photo: Ørjan Ødegård"},
    ]
    assert doc[KEYS["pubstatus"][version]] == "usable"
    assert doc[KEYS["altids"][version]] == [
        {"role": "cms", "value": "1001"},
        {"role": "url", "value": a.url},
    ]
    assert doc["subjects"] == [{"name": "Politics"}, {"name": "Économie"}]
    assert doc["standard"]["schema"].endswith(f"ninjs-schema_{version}.json")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("original", ["text/html", "application/json", "text/plain"])
def test_the_body_is_labelled_plain_text_whatever_format_it_came_in(
    version: NinjsVersion, original: str
) -> None:
    doc = ninjs(tagged(raw_article(content_type=original)), version)

    [body] = doc["bodies"]
    assert body[KEYS["contenttype"][version]] == "text/plain"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_withdrawn_article_becomes_a_canceled_kill_notice(version: NinjsVersion) -> None:
    doc = ninjs(withdrawn_tagged(), version)

    assert doc[KEYS["pubstatus"][version]] == "canceled"
    assert doc[KEYS["ednote"][version]] == "Withdrawn: Legal: the source retracted the story."
    assert doc["version"] == "2"
    for gone in ("bodies", "descriptions", "people", "places", "associations", "headlines"):
        assert gone not in doc
    validate_ninjs(doc, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_pubstatus_argument_overrides_the_article_status(version: NinjsVersion) -> None:
    doc = ninjs(full_tagged(), version, pubstatus=PubStatus.WITHDRAWN)

    assert doc[KEYS["pubstatus"][version]] == "canceled"
    assert doc["headlines"][0]["value"] == full_tagged().article.title  # still identifiable
    assert "bodies" not in doc
    validate_ninjs(doc, version)


# --- dates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("published_at", "expected"),
    [
        (datetime(2025, 6, 10, 9, 30, tzinfo=UTC), "2025-06-10T09:30:00Z"),
        (
            datetime(2025, 6, 10, 9, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            "2025-06-10T09:30:00+05:30",
        ),
        (
            datetime(2025, 6, 10, 9, 30, 1, 5, tzinfo=timezone(timedelta(hours=-3))),
            "2025-06-10T09:30:01.000005-03:00",
        ),
        (  # whole-minute offsets only in RFC 3339: the same instant, in UTC
            datetime(1900, 1, 1, 12, 0, tzinfo=timezone(timedelta(minutes=19, seconds=32))),
            "1900-01-01T11:40:28Z",
        ),
    ],
    ids=["utc", "plus-0530", "minus-03-micro", "lmt-seconds"],
)
@pytest.mark.parametrize("version", VERSIONS)
def test_zone_aware_source_date_is_firstcreated_with_its_offset(
    version: NinjsVersion, published_at: datetime, expected: str
) -> None:
    doc = ninjs(tagged(raw_article(published_at=published_at)), version)

    assert doc[KEYS["firstcreated"][version]] == expected
    assert doc[KEYS["versioncreated"][version]] == "2025-06-10T12:00:05.250000Z"
    validate_ninjs(doc, version)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "published_at",
    [datetime(2025, 6, 10, 9, 30), datetime(2025, 6, 10, 9, 30, tzinfo=UTC)],
    ids=["naive", "flagged-zone-less-but-stored-as-utc"],
)
def test_zone_less_source_date_is_not_given_a_zone_but_kept_in_ednote(
    version: NinjsVersion, published_at: datetime
) -> None:
    article = raw_article(published_at=published_at, published_at_has_timezone=False)

    doc = ninjs(tagged(article), version)

    assert KEYS["firstcreated"][version] not in doc
    assert doc[KEYS["ednote"][version]] == (
        "Source date 2025-06-10T09:30:00 has no time zone; firstcreated left out."
    )
    validate_ninjs(doc, version)


def test_withdrawal_and_zone_less_notes_are_both_kept() -> None:
    article = withdrawn_tagged(published_at=datetime(2025, 6, 10, 9, 30), published_at_has_timezone=False)

    doc = ninjs(article, "2.2")

    assert doc["ednote"].startswith("Withdrawn: Legal")
    assert "Source date 2025-06-10T09:30:00 has no time zone" in doc["ednote"]


# --- entities -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_people_and_organisations_carry_uri_only_where_known(version: NinjsVersion) -> None:
    doc = ninjs(full_tagged(), version)

    assert doc["people"] == [
        {
            "name": "Anna Müller",
            "rel": "about",
            "uri": "http://www.wikidata.org/entity/Q1",
            "literal": "person:anna-müller",
        },
        {"name": "Łukasz Żółć", "rel": "mentions", "literal": "person:łukasz-żółć"},
        {
            "name": "山田 太郎",
            "rel": "mentions",
            "uri": "https://example.org/people/%E5%B1%B1%E7%94%B0%20%E5%A4%AA%E9%83%8E",
            "literal": "person:山田-太郎",
        },
    ]
    assert [o.get("uri") for o in doc["organisations"]] == [
        "http://www.wikidata.org/entity/Q270363",
        None,
        None,  # "not a uri" is dropped rather than published invalid
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_places_carry_geonames_or_iso_uri_and_a_geojson_point(version: NinjsVersion) -> None:
    geo = KEYS["geojson"][version]

    places = {p["name"]: p for p in ninjs(full_tagged(), version)["places"]}

    assert places["Zürich"] == {
        "name": "Zürich",
        "rel": "about",
        "uri": "https://sws.geonames.org/2657896/",
        "literal": "place:zürich",
        geo: {"type": "Point", "coordinates": [8.55, 47.36667]},
    }
    assert places["Italy"]["uri"] == "http://cvx.iptc.org/iso3166-1a2/it"
    assert places["Tōkyō"]["uri"] == "https://sws.geonames.org/1850147/"
    assert geo not in places["Tōkyō"]  # latitude without longitude is no point
    assert geo not in places["Nowhere"]  # NaN / infinity are no coordinates
    assert set(places["Atlantis"]) == {"name", "rel", "literal"}


@pytest.mark.parametrize("version", VERSIONS)
def test_entities_of_type_other_stay_out_of_ninjs(version: NinjsVersion) -> None:
    doc = ninjs(full_tagged(), version)

    assert "Olympics" not in orjson.dumps(doc).decode()


# --- associations -------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_related_articles_and_inline_links_become_associations(version: NinjsVersion) -> None:
    doc = ninjs(full_tagged(), version)

    got = [(a["name"], a["uri"], a.get("title"), a.get("rel")) for a in doc["associations"]]

    rel = {"related": "related", "inline": "linked"} if version == "3.1" else {}
    expected = [
        ("related1", f"{BASE_URL}/articles/cms-0999", "Earlier: talks begin"),
        ("related2", "https://wire.example.net/a/77", "From another feed"),
        (
            "inline1",
            "https://www.example-times.com/world/z%C3%BCrich%20budget.html",
            "READ: Zürich’s budget",
        ),
        ("inline2", "https://www.example-times.com/x?a=1&b=2", "READ: absolute"),
        ("inline3", "https://e.example/100%25%25/#a%23b", "READ: stray percent"),
    ]
    assert got == [(n, u, t, rel.get(n.rstrip("0123456789"))) for n, u, t in expected]
    for association in doc["associations"]:
        assert association["type"] == "text"


@pytest.mark.parametrize("version", VERSIONS)
def test_article_without_related_links_has_no_associations(version: NinjsVersion) -> None:
    links = [related(RelatedKind.REFERENCE, "Zürich", url="https://en.wikipedia.org/wiki/Z")]

    doc = ninjs(tagged(links=links), version)

    assert "associations" not in doc


# --- build_published ----------------------------------------------------------------------


def test_build_published_carries_a_valid_2_2_document_and_the_enrichment() -> None:
    article = full_tagged()
    now = datetime(2025, 6, 10, 12, 1, tzinfo=UTC)

    published = build_published(article, base_url=BASE_URL, published_at=now)

    assert isinstance(published, PublishedArticle)
    assert (published.article_id, published.version) == ("cms-1001", 1)
    assert published.pubstatus is PubStatus.USABLE
    assert published.published_at == now
    assert published.ninjs == to_ninjs(article, base_url=BASE_URL, ninjs_version="2.2")
    validate_ninjs(published.ninjs, "2.2")
    assert published.enrichment.entities == article.entities
    assert published.enrichment.related == article.related
    assert published.enrichment.tagger == TAGGER
    # the document survives the event's own JSON round trip, as on the wire
    assert PublishedArticle.model_validate_json(published.model_dump_json()).ninjs == published.ninjs


def test_build_published_for_a_withdrawal_is_canceled() -> None:
    published = build_published(
        withdrawn_tagged(), base_url=BASE_URL, published_at=datetime(2025, 6, 11, tzinfo=UTC)
    )

    assert published.pubstatus is PubStatus.WITHDRAWN
    assert published.ninjs["pubstatus"] == "canceled"
    validate_ninjs(published.ninjs, "2.2")


# --- generated articles -------------------------------------------------------------------

_text = st.text(max_size=40)
_offsets = st.one_of(
    st.none(),
    st.integers(min_value=-(23 * 3600 + 59 * 60), max_value=23 * 3600 + 59 * 60).map(
        lambda s: timezone(timedelta(seconds=s))
    ),
)
_coordinates = st.one_of(st.none(), st.floats(min_value=-180, max_value=180), st.floats(allow_nan=True))
# links as sources write them: absolute, relative, scheme-relative, IRIs, junk
_urls = st.one_of(
    st.none(),
    _text,
    _text.map(lambda path: "https://x.example/" + path),
    _text.map(lambda path: "//cdn.example/" + path),
    st.just("../a b/ü?x=%#f#g"),
)


@st.composite
def _datetimes(draw: st.DrawFn) -> datetime:
    naive = draw(st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9998, 12, 31)))
    zone = draw(_offsets)
    return naive if zone is None else naive.replace(tzinfo=zone)


@st.composite
def _tagged_articles(draw: st.DrawFn) -> TaggedArticle:
    withdrawn = draw(st.booleans())
    title = draw(_text if withdrawn else _text.filter(str.strip))
    body = draw(_text if withdrawn else _text.filter(str.strip))
    published_at = draw(st.one_of(st.none(), _datetimes()))

    def ids() -> Identifiers:
        return Identifiers(
            uri=draw(_urls),
            geonames_id=draw(st.one_of(st.none(), st.integers(min_value=1, max_value=10**8))),
            iso3166_alpha2=draw(st.one_of(st.none(), st.text(max_size=3))),
            latitude=draw(_coordinates),
            longitude=draw(_coordinates),
        )

    names = st.lists(_text.filter(str.strip), max_size=3)
    entities = Entities(
        people=[person(n).model_copy(update={"identifiers": ids()}) for n in draw(names)],
        places=[place(n).model_copy(update={"identifiers": ids()}) for n in draw(names)],
    )
    links = [
        related(
            draw(st.sampled_from(list(RelatedKind))),
            draw(_text),
            url=draw(_urls),
            article_id=draw(st.one_of(st.none(), _text.filter(bool))),
        )
        for _ in range(draw(st.integers(min_value=0, max_value=4)))
    ]
    article = raw_article(
        article_id=draw(_text.filter(bool)),
        version=draw(st.integers(min_value=1, max_value=10**6)),
        pubstatus=PubStatus.WITHDRAWN if withdrawn else PubStatus.USABLE,
        title=title,
        body=body,
        url=draw(st.one_of(_urls, st.just("https://www.example-times.com/100%/a b.html"))),
        published_at=published_at,
        published_at_has_timezone=draw(st.one_of(st.none(), st.booleans())),
        authors=draw(st.lists(_text, max_size=3)),
        language=draw(st.one_of(st.none(), _text)),
        image_caption=draw(st.one_of(st.none(), _text)),
        subjects=draw(st.lists(_text, max_size=3)),
        received_at=draw(_datetimes()),
        withdrawal_reason=draw(st.one_of(st.none(), _text)),
    )
    return tagged(article, entities=entities, links=links)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(article=_tagged_articles(), version=st.sampled_from(VERSIONS))
def test_any_tagged_article_maps_to_a_valid_document(article: TaggedArticle, version: NinjsVersion) -> None:
    doc = ninjs(article, version)

    validate_ninjs(doc, version)
    assert MODELS[version].load(doc).dump() == doc
    expected = "canceled" if article.article.pubstatus is PubStatus.WITHDRAWN else "usable"
    assert doc[KEYS["pubstatus"][version]] == expected

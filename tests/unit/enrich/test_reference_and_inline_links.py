import pytest

from services.enrich.related import indexed_from_published, inline_links, reference_links
from shared.events import EntityType, InlineLink, PubStatus, RelatedKind
from tests.utils.related import NOW, entity, entity_id, published, raw


def test_reference_links_only_for_entities_with_a_uri() -> None:
    moscow = entity(
        "Moscow",
        0.7,
        entity_type=EntityType.PLACE,
        uri="https://www.geonames.org/524901",
        geonames_id=524901,
    )
    unlinked = entity("Sergey Shoygu", 0.9, entity_type=EntityType.PERSON)
    only_id = entity("Tehran", 0.5, geonames_id=112931)

    [link] = reference_links([moscow, unlinked, only_id])

    assert link.kind is RelatedKind.REFERENCE
    assert link.title == "Moscow"
    assert link.url == "https://www.geonames.org/524901"
    assert link.score == 0.7
    assert link.reason == "reference page for Moscow (GeoNames 524901)"


def test_reference_link_without_geonames_id_names_the_uri_host() -> None:
    house = entity("City Hall", 0.4, uri="https://gazetteer.example.org/places/city-hall")

    [link] = reference_links([house])

    assert link.reason == "reference page for City Hall (gazetteer.example.org)"


def test_reference_links_most_salient_first_one_per_uri_and_limited() -> None:
    entities = [
        entity(f"Place {i}", i / 10, uri=f"https://www.geonames.org/{i}", geonames_id=i) for i in range(1, 6)
    ]
    duplicate = entity("Place 5 again", 0.1, uri="https://www.geonames.org/5", geonames_id=5)

    links = reference_links([*entities, duplicate], limit=3)

    assert [link.title for link in links] == ["Place 5", "Place 4", "Place 3"]


def test_inline_links_keep_order_title_and_optional_url() -> None:
    article = raw(
        [
            InlineLink(title="Iran signs deal"),
            InlineLink(title="Shoygu in Tehran", url="https://news.example.org/x"),
            InlineLink(title="Iran signs deal"),
            InlineLink(title="   "),
        ]
    )

    links = inline_links(article)

    assert [(link.title, link.url) for link in links] == [
        ("Iran signs deal", None),
        ("Shoygu in Tehran", "https://news.example.org/x"),
    ]
    assert all(link.kind is RelatedKind.INLINE for link in links)
    assert all(link.score == 1.0 for link in links)
    assert all(link.reason == "linked in the article text" for link in links)


def test_indexed_from_published_takes_title_url_and_entities() -> None:
    p = published(
        "a1",
        ninjs={
            "uri": "https://news.example.org/articles/a1",
            "headlines": [{"role": "sub", "value": "Sub"}, {"role": "main", "value": "Main"}],
        },
        entities=[entity("Tehran", 0.6)],
    )

    record = indexed_from_published(p, base_url="https://other.example.org")

    assert record.article_id == "a1"
    assert record.title == "Main"
    assert record.url == "https://news.example.org/articles/a1"
    assert record.published_at == NOW
    assert record.entities == ((entity_id("Tehran"), "Tehran", 0.6),)


def test_indexed_from_published_falls_back_to_base_url_when_uri_is_no_web_address() -> None:
    p = published("a1", ninjs={"uri": "urn:newsflow:a1"})

    record = indexed_from_published(p, base_url="https://news.example.org/")

    assert record.url == "https://news.example.org/articles/a1"
    assert record.title == "a1"


def test_indexed_from_published_refuses_a_withdrawn_article() -> None:
    with pytest.raises(ValueError, match="withdrawn"):
        indexed_from_published(published(pubstatus=PubStatus.WITHDRAWN), base_url="https://x")

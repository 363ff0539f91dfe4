"""The events that travel the pipeline, and the envelope that carries each of them.

These models are the contract between services and with the outside: upstream producers write
`InboundArticle` JSON, subscribers read `PublishedEvent`. Every field here is on the wire.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, str_strip_whitespace=False)


class EventType(StrEnum):
    RAW = "article.raw"
    TAGGED = "article.tagged"
    PUBLISHED = "article.published"  # first published version
    UPDATED = "article.updated"  # a later version of an already published article
    WITHDRAWN = "article.withdrawn"  # kill/takedown, on every stream it travels


class PubStatus(StrEnum):
    USABLE = "usable"
    WITHDRAWN = "withdrawn"


class EntityType(StrEnum):
    PERSON = "person"
    ORGANISATION = "organisation"
    PLACE = "place"
    OTHER = "other"


def entity_id(entity_type: EntityType, name: str) -> str:
    """`person:sergey-shoygu`: the type, then the name's words case-folded and joined by '-'.

    The one rule for an entity id: enrich assigns it, publish lists by it, subscribers filter on it.
    """
    words = re.findall(r"[^\W_]+", name.casefold())
    return f"{entity_type.value}:{'-'.join(words) or 'unnamed'}"


class InlineLink(_Model):
    """A related-article link the article itself carries (e.g. a `READ: <title>` line)."""

    title: str
    url: str | None = None


class InboundArticle(_Model):
    """The JSON upstream systems send (stream `payload`, HTTP body, `.json`/`.ndjson` files)."""

    model_config = ConfigDict(extra="forbid", title="InboundArticle")

    id: str | None = Field(None, description="The source system's own id; the most stable identity.")
    source: str | None = Field(None, description="Name of the sending system, e.g. 'cms' or 'wire'.")
    url: str | None = None
    site: str | None = None
    title: str | None = None
    body: str | None = Field(None, description="Plain text; paragraphs separated by blank lines.")
    published_at: str | None = Field(
        None, description="ISO 8601; without an offset it is kept and flagged as zone-less."
    )
    authors: list[str] = Field(default_factory=list)
    language: str | None = Field(None, description="ISO 639-1; detected when absent.")
    image_caption: str | None = None
    related: list[InlineLink] = Field(default_factory=list)
    subjects: list[str] = Field(default_factory=list)
    action: Literal["publish", "withdraw"] = Field(
        "publish", description="'withdraw' kills the article with this id (or url) downstream."
    )
    reason: str | None = Field(None, description="Why, for a withdrawal.")
    embargoed_until: str | None = Field(
        None, description="ISO 8601: publish holds the article until then (zone-less: source's zone)."
    )
    # Strict: a JSON true is not urgency 1.
    urgency: int | None = Field(
        None, ge=1, le=9, strict=True, description="1 (most urgent) to 9, as in ninjs."
    )
    priority: int | None = Field(
        None,
        ge=1,
        le=9,
        strict=True,
        description="The wire's priority, 1 (flash) to 9; urgency when that is absent.",
    )
    correction: str | None = Field(
        None, max_length=2_000, description="Upstream's correction note for this version (characters)."
    )


class ArticleContent(_Model):
    """What an article says, before ingest gives it a version (ingest's `Draft`)."""

    article_id: str
    content_hash: str
    pubstatus: PubStatus = PubStatus.USABLE
    source: str
    source_id: str | None = None
    content_type: str = "text/plain"
    url: str | None = None
    site: str | None = None
    title: str = ""
    body: str = ""
    published_at: datetime | None = None
    # False when the source gave a date without a zone: it is kept as written, not guessed.
    published_at_has_timezone: bool | None = None
    authors: list[str] = Field(default_factory=list)
    language: str | None = None
    image_caption: str | None = None
    image_credit: str | None = None
    inline_links: list[InlineLink] = Field(default_factory=list)
    subjects: list[str] = Field(default_factory=list)
    received_at: datetime
    withdrawal_reason: str | None = None
    # The IANA zone a zone-less source date was read in (the source's configured zone).
    published_at_timezone: str | None = None
    embargoed_until: datetime | None = None
    urgency: int | None = Field(None, ge=1, le=9)
    correction: str | None = None


class RawArticle(ArticleContent):
    """A validated, normalised, versioned article as ingest emits it."""

    version: int = Field(ge=1)
    previous_event_id: str | None = None

    @model_validator(mode="after")
    def _usable_needs_text(self) -> Self:
        if self.pubstatus is PubStatus.USABLE and not (self.title.strip() and self.body.strip()):
            raise ValueError("a usable article needs a non-empty title and body")
        return self


class Mention(_Model):
    text: str
    start: int = Field(ge=0, description="Character offset into `field` (the body unless said).")
    end: int = Field(ge=0)
    field: Literal["body", "image_caption"] = "body"


class Identifiers(_Model):
    iso3166_alpha2: str | None = None
    iso3166_alpha3: str | None = None
    geonames_id: int | None = None
    latitude: float | None = None
    longitude: float | None = None
    uri: str | None = Field(None, description="A stable URI: the house knowledge base's or GeoNames'.")
    wikidata: str | None = Field(None, description="Wikidata QID, where the knowledge base gives one.")
    kb_id: str | None = Field(None, description="Id of the house knowledge base's entry for the entity.")
    feature: str | None = Field(
        None, description="What kind of place: country, continent, region, city, island, sea, river, …"
    )


class EntityLink(_Model):
    """Why an article's entity was linked to its registry entity (or why a new one was made)."""

    method: str = Field(description="identifier, name, alias, acronym, surname, similar or new.")
    confidence: float = Field(ge=0.0, le=1.0)
    reason: str


class Entity(_Model):
    id: str = Field(
        description="Type and normalised name within the article (kept for compatibility); "
        "`entity_id` is the identity across articles."
    )
    name: str
    type: EntityType
    titles: list[str] = Field(default_factory=list, description="Honorifics and titles stripped.")
    aliases: list[str] = Field(default_factory=list)
    mentions: list[Mention] = Field(default_factory=list)
    count: int = Field(ge=0)
    salience: float = Field(ge=0.0, le=1.0)
    in_headline: bool = False
    identifiers: Identifiers = Field(default_factory=Identifiers)
    source: Literal["model", "gazetteer"] = "model"
    # Absent on events written before the entity registry: they still decode.
    entity_id: str | None = Field(
        None, description="The entity registry's opaque id: the same real-world entity in every article."
    )
    entity_uri: str | None = Field(None, description="The registry's URI for the entity (the read API).")
    link: EntityLink | None = None


class Entities(_Model):
    people: list[Entity] = Field(default_factory=list)
    organisations: list[Entity] = Field(default_factory=list)
    places: list[Entity] = Field(default_factory=list)
    other: list[Entity] = Field(default_factory=list)

    def all(self) -> list[Entity]:
        return [*self.people, *self.organisations, *self.places, *self.other]


class RelatedKind(StrEnum):
    INLINE = "inline"  # the article's own READ: links
    ARTICLE = "article"  # an earlier published article sharing entities
    REFERENCE = "reference"  # a reference page for an entity with an identifier
    SAME_STORY = "same_story"  # the first copy of the same story from another source


class RelatedLink(_Model):
    kind: RelatedKind
    title: str
    url: str | None = None
    article_id: str | None = None
    score: float = Field(ge=0.0, le=1.0)
    reason: str
    shared_entities: list[str] = Field(default_factory=list)
    # The shared entities' ids, in the same order (registry ids once linked).
    shared_entity_ids: list[str] = Field(default_factory=list)


class SameStory(_Model):
    """A near-duplicate of an earlier article (wire copy republished with small edits)."""

    article_id: str = Field(description="The first article of the story.")
    similarity: float = Field(ge=0.0, le=1.0, description="Estimated Jaccard similarity of shingles.")


class TaggedArticle(_Model):
    article: RawArticle
    entities: Entities = Field(default_factory=Entities)
    related: list[RelatedLink] = Field(default_factory=list)
    tagger: str = Field(description="Model package and version that produced the entities.")
    same_story_as: SameStory | None = None
    story_id: str | None = Field(None, description="Shared by every copy of the same story.")


class Changes(_Model):
    """What an update changed against the previously published version."""

    headline: bool = False
    body: bool = False
    caption: bool = False
    entities_added: list[str] = Field(default_factory=list, description="Entity ids.")
    entities_removed: list[str] = Field(default_factory=list, description="Entity ids.")
    related_links: bool = False
    correction: str | None = Field(None, description="Upstream's correction note, when flagged.")


class Enrichment(_Model):
    """Our richer data, beside the ninjs document (ninjs rejects unknown properties)."""

    entities: Entities
    related: list[RelatedLink]
    tagger: str
    same_story_as: SameStory | None = None
    story_id: str | None = None


class PublishedArticle(_Model):
    article_id: str
    version: int = Field(ge=1)
    pubstatus: PubStatus
    # Plain copies of what most subscribers show first, so they need not read ninjs for them.
    title: str = ""
    url: str | None = None
    article_published_at: datetime | None = None
    article_published_at_has_timezone: bool | None = None
    ninjs: dict[str, Any] = Field(description="IPTC ninjs 2.2 document, valid against the schema.")
    enrichment: Enrichment
    published_at: datetime
    urgency: int | None = Field(None, ge=1, le=9)
    embargoed_until: datetime | None = None
    changes: Changes | None = Field(None, description="On article.updated: what this version changed.")


DataT = TypeVar("DataT", RawArticle, TaggedArticle, PublishedArticle)


def _now() -> datetime:
    return datetime.now(UTC)


def new_event_id() -> str:
    return uuid.uuid4().hex


class Envelope(_Model, Generic[DataT]):
    """One event on a stream. Header fields are repeated as stream-entry fields (see `wire`)."""

    event_id: str = Field(default_factory=new_event_id)
    event_type: EventType
    schema_version: int = SCHEMA_VERSION
    occurred_at: datetime = Field(default_factory=_now)
    article_id: str
    article_version: int = Field(ge=1)
    correlation_id: str
    traceparent: str | None = None
    data: DataT


RawEvent = Envelope[RawArticle]
TaggedEvent = Envelope[TaggedArticle]
PublishedEvent = Envelope[PublishedArticle]

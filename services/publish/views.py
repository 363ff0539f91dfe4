"""What publish reads of the events it consumes: the fields it uses, validated, and nothing else.

Every view mirrors a contract model of `shared.events` field for field (same name, type, default
and bounds: `tests/unit/publish/test_views.py` holds them to it), leaving out what the reader never
uses. Extra keys are ignored, as an older or newer writer may add some.

- `TaggedEventView` (the publish stage, of `articles.tagged`): enrich wrote the event from the
  `TaggedEvent` model. Validating all of it again (every mention of every entity, ~100 model
  objects per article) and encoding it again was a third of publish's CPU. The view validates the
  article in full and each entity's fields that the ninjs document and the update summary read; the
  enrichment goes on as enrich wrote it (`logic.published_fields`).
- `IndexedEvent` (the listing index stage, of `articles.published`): publish wrote the event;
  decoding all of it (mentions, ninjs people and places, associations) was most of the index
  stage's cost, for values it never reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from shared.events import (
    SCHEMA_VERSION,
    EntityType,
    EventType,
    PubStatus,
    RawArticle,
    RelatedLink,
    SameStory,
    new_event_id,
)


class _View(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


_E = TypeVar("_E", bound=_View)


class IdentifiersView(_View):
    iso3166_alpha2: str | None = None
    geonames_id: int | None = None
    latitude: float | None = None
    longitude: float | None = None
    uri: str | None = None


class EntityView(_View):
    id: str
    name: str
    type: EntityType
    in_headline: bool = False
    identifiers: IdentifiersView = Field(default_factory=IdentifiersView)
    entity_id: str | None = None
    entity_uri: str | None = None


class _EntityLists(_View, Generic[_E]):
    """`shared.events.Entities`'s four lists, of the reader's own entity view."""

    people: list[_E] = Field(default_factory=list)
    organisations: list[_E] = Field(default_factory=list)
    places: list[_E] = Field(default_factory=list)
    other: list[_E] = Field(default_factory=list)

    def all(self) -> list[_E]:
        return [*self.people, *self.organisations, *self.places, *self.other]


class EntitiesView(_EntityLists[EntityView]):
    pass


class TaggedView(_View):
    article: RawArticle
    entities: EntitiesView = Field(default_factory=EntitiesView)
    related: list[RelatedLink] = Field(default_factory=list)
    tagger: str
    same_story_as: SameStory | None = None
    story_id: str | None = None


class TaggedEventView(_View):
    """A tagged event as `PublishStage` reads it (the envelope of `shared.events.Envelope`)."""

    event_id: str = Field(default_factory=new_event_id)
    event_type: EventType
    schema_version: int = SCHEMA_VERSION
    occurred_at: datetime | None = None
    article_id: str
    article_version: int = Field(ge=1)
    correlation_id: str
    traceparent: str | None = None
    data: TaggedView


class IndexedEntityView(_View):
    id: str
    name: str
    type: EntityType
    aliases: list[str] = Field(default_factory=list)


class IndexedEntitiesView(_EntityLists[IndexedEntityView]):
    pass


class IndexedEnrichmentView(_View):
    entities: IndexedEntitiesView
    story_id: str | None = None


class IndexedNinjsView(_View):
    """The ninjs properties the index reads, as loosely as `summary` and friends read them."""

    uri: Any = None
    by: Any = None
    firstcreated: Any = None
    title: Any = None
    headlines: Any = None
    altids: Any = None
    bodies: Any = None
    body_text: Any = None
    descriptions: Any = None
    description_text: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {name: value for name, value in self if value is not None}


class IndexedArticleView(_View):
    pubstatus: PubStatus
    title: str = ""
    url: str | None = None
    article_published_at: datetime | None = None
    article_published_at_has_timezone: bool | None = None
    ninjs: IndexedNinjsView
    enrichment: IndexedEnrichmentView
    published_at: datetime
    urgency: int | None = Field(None, ge=1, le=9)


class IndexedEvent(_View):
    """A published event as the listing index reads it (`PublishIndexStage`)."""

    event_id: str
    event_type: EventType
    article_id: str
    article_version: int = Field(ge=1)
    data: IndexedArticleView

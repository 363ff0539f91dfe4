"""What the publish stage reads of a tagged event: the fields it maps, validated, and nothing else.

Enrich wrote the event from the `TaggedEvent` model (publish may only read `articles.tagged`).
Validating all of it again (every mention of every entity, ~100 model objects per article) and
encoding it again for the published event was a third of publish's CPU. The view validates the
article in full and each entity's fields that the ninjs document and the update summary read;
the enrichment (entities with their mentions, related links, same story) goes on as enrich wrote it
(`logic.published_fields`). Extra keys are ignored, as an older or newer writer may add some.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.events import (
    SCHEMA_VERSION,
    EntityType,
    EventType,
    RawArticle,
    RelatedLink,
    SameStory,
    new_event_id,
)


class _View(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


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


class EntitiesView(_View):
    people: list[EntityView] = Field(default_factory=list)
    organisations: list[EntityView] = Field(default_factory=list)
    places: list[EntityView] = Field(default_factory=list)
    other: list[EntityView] = Field(default_factory=list)

    def all(self) -> list[EntityView]:
        return [*self.people, *self.organisations, *self.places, *self.other]


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

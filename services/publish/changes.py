"""What an update changed: the `changes` summary of an `article.updated` event (pure).

Publish keeps the previously published version's tagged event (`PUBLISH_TAGGED`), so the
summary compares what subscribers saw with what they are about to see.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from services.publish.views import TaggedView
from shared.events import Changes, EventType, RelatedLink, TaggedArticle, TaggedEvent

# The previously published version (stored, decoded in full) or the one being published (the view).
Shown = TaggedArticle | TaggedView


def _link_key(link: RelatedLink) -> tuple[str, str, str]:
    return (link.kind.value, link.article_id or link.url or "", link.title)


def changes_between(previous: Shown, current: Shown) -> Changes:
    before, after = previous.article, current.article
    old_ids = {e.id for e in previous.entities.all()}
    new_ids = {e.id for e in current.entities.all()}
    return Changes(
        headline=before.title != after.title,
        body=before.body != after.body,
        caption=(before.image_caption, before.image_credit) != (after.image_caption, after.image_credit),
        entities_added=sorted(new_ids - old_ids),
        entities_removed=sorted(old_ids - new_ids),
        related_links={_link_key(x) for x in previous.related} != {_link_key(x) for x in current.related},
        correction=after.correction,
    )


def update_changes(event_type: EventType, previous: Shown | None, current: Shown) -> Changes | None:
    """The summary for an update whose previous version publish still has; None otherwise."""
    if event_type is not EventType.UPDATED or previous is None:
        return None
    return changes_between(previous, current)


def previously_shown(ids: Sequence[str], stored: Sequence[bytes | str | None]) -> dict[str, TaggedArticle]:
    """The tagged articles of the published versions, from `PUBLISH_TAGGED` (unreadable ones skipped)."""
    shown: dict[str, TaggedArticle] = {}
    for article_id, raw in zip(ids, stored, strict=True):
        if raw is None:
            continue
        try:
            shown[article_id] = TaggedEvent.model_validate_json(raw).data
        except ValidationError:
            continue  # an old or foreign value: the update goes out without a summary
    return shown

"""Which event, if any, publishing an article version produces."""

from __future__ import annotations

import pytest

from services.publish.logic import event_type_for
from shared.events import EventType, PubStatus
from tests.utils.publish import raw_article

USABLE, WITHDRAWN = PubStatus.USABLE, PubStatus.WITHDRAWN


@pytest.mark.parametrize(
    ("previous_version", "version", "pubstatus", "expected"),
    [
        (None, 1, USABLE, EventType.PUBLISHED),
        (None, 4, USABLE, EventType.PUBLISHED),  # first one we publish, whatever its number
        (1, 2, USABLE, EventType.UPDATED),
        (2, 9, USABLE, EventType.UPDATED),  # gaps are fine: only newer matters
        (2, 2, USABLE, None),  # redelivery of what is already published
        (3, 2, USABLE, None),  # an older version arriving late
        (1, 2, WITHDRAWN, EventType.WITHDRAWN),
        (None, 1, WITHDRAWN, EventType.WITHDRAWN),  # a kill that overtook its article
        (2, 2, WITHDRAWN, None),  # the same kill redelivered
        (3, 2, WITHDRAWN, None),
    ],
)
def test_event_type_for_a_version_given_the_published_one(
    previous_version: int | None, version: int, pubstatus: PubStatus, expected: EventType | None
) -> None:
    article = raw_article(version=version, pubstatus=pubstatus)

    assert event_type_for(previous_version, article) is expected

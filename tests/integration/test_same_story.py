"""Same story across sources: the seed republished with edits is found; a different story is not."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
import redis.asyncio as aioredis

from services.enrich.same_story import SameStoryIndex
from services.enrich.settings import EnrichSettings
from services.ingest.logic import Draft, parse_payload
from shared.events import RelatedKind
from tests.utils.paths import SEED

pytestmark = pytest.mark.integration

RECEIVED = datetime(2023, 9, 21, tzinfo=UTC)

# Written for this test: same topic (Russian-Iranian defence ties), same length, another story.
UNRELATED = """Iran and Russia held a second round of naval talks in the Caspian port of Bandar Anzali on \
Thursday, the Iranian navy said, as both countries look for ways to expand joint patrols in the region.

Rear Admiral Shahram Irani told state television that the discussions covered search and rescue \
drills, the exchange of cadets between naval academies and a schedule of port visits for next year.

A Russian delegation led by the deputy commander of the Caspian Flotilla toured shipyards where \
Iranian engineers are building two new corvettes, according to a statement from the navy's press office.

"Our sailors have trained side by side for years, and the next step is a permanent framework for \
exercises," Irani said, adding that China could be invited to observe some of the drills.

Western governments have criticised the growing military relationship between Moscow and Tehran, \
accusing Iran of supplying drones used in Ukraine, a charge Tehran rejects.

Analysts in Tehran said the naval track was less sensitive than the air defence deals discussed in \
earlier meetings, and that both sides wanted visible results before the end of the year.

The talks are expected to continue in Astrakhan in the spring, when the Russian side will host a \
larger delegation that includes officers from the Iranian coast guard and the border police.

Officials did not say whether a written agreement would be signed, but a joint statement promised \
"practical steps" on maritime security, environmental protection of the Caspian and the fight against \
smuggling across the sea.

Fishermen's associations on the Iranian coast welcomed the promise of joint patrols, saying that \
illegal catches of sturgeon had fallen sharply since the two navies began sharing radar data last \
summer.

Russian media reported that the flotilla's commander would visit Tehran later in the month to meet \
the chief of staff of the Iranian armed forces, though neither ministry confirmed the trip or its \
agenda.

Diplomats from Azerbaijan, Kazakhstan and Turkmenistan, the other Caspian states, were briefed on \
the talks, a spokesman for the Iranian foreign ministry said, stressing that the cooperation was not \
aimed at any third country."""


def seed() -> Draft:
    draft = parse_payload(SEED.read_bytes(), "text/plain", source="seed", received_at=RECEIVED)
    assert isinstance(draft, Draft)
    return draft


def republished(original: Draft) -> Draft:
    """Another source's copy: a new title, the first paragraph rewritten, the rest as sent."""
    paragraphs = original.body.split("\n\n")
    lead = (
        "Moscow and Tehran have taken their cooperation to a new level, Russia's defence minister "
        "Sergey Shoygu declared on Wednesday during a visit to the Iranian capital."
    )
    payload = {
        "source": "wire-copy",
        "id": "wc-1",
        "title": "Shoygu hails new stage in Russian-Iranian military ties",
        "body": "\n\n".join([lead, *paragraphs[1:]]),
    }
    draft = parse_payload(orjson.dumps(payload), None, source="wire-copy", received_at=RECEIVED)
    assert isinstance(draft, Draft)
    return draft


def unrelated() -> Draft:
    payload = {"source": "other", "id": "o-1", "title": "Iran and Russia hold naval talks", "body": UNRELATED}
    draft = parse_payload(orjson.dumps(payload), None, source="other", received_at=RECEIVED)
    assert isinstance(draft, Draft)
    return draft


async def test_the_seed_republished_with_a_new_title_and_lead_is_the_same_story_and_an_unrelated_one_is_not(
    redis_client: aioredis.Redis,
) -> None:
    index = SameStoryIndex(redis_client, threshold=EnrichSettings().same_story_threshold)
    original, copy, other = seed(), republished(seed()), unrelated()
    assert abs(len(other.body.split()) - len(original.body.split())) < 0.25 * len(original.body.split())

    first = await index.match_and_add(original.article_id, original.title, original.body)
    assert first is not None
    assert first.same_story_as is None
    assert first.story_id == original.article_id

    found = await index.match_and_add(copy.article_id, copy.title, copy.body)
    assert found is not None
    assert found.same_story_as is not None
    assert found.same_story_as.article_id == original.article_id
    assert found.same_story_as.similarity >= index.threshold
    assert found.story_id == original.article_id
    link = found.link()
    assert link is not None
    assert (link.kind, link.article_id, link.title) == (
        RelatedKind.SAME_STORY,
        original.article_id,
        original.title,
    )

    different = await index.match_and_add(other.article_id, other.title, other.body)
    assert different is not None
    assert different.same_story_as is None
    assert different.story_id == other.article_id


async def test_a_third_copy_joins_the_story_of_the_first_and_a_redelivery_finds_the_same(
    redis_client: aioredis.Redis,
) -> None:
    index = SameStoryIndex(redis_client, threshold=EnrichSettings().same_story_threshold)
    original, copy = seed(), republished(seed())
    await index.match_and_add(original.article_id, original.title, original.body)
    await index.match_and_add(copy.article_id, copy.title, copy.body)
    third_body = "\n\n".join(copy.body.split("\n\n")[:-2])  # the copy, its ending trimmed
    third = await index.match_and_add("third", "Third copy", third_body)
    again = await index.match_and_add("third", "Third copy", third_body)
    assert third is not None
    assert again == third
    assert third.story_id == original.article_id
    # The original, updated, stays the story's first copy.
    updated = await index.match_and_add(
        original.article_id, original.title, original.body + "\n\nAn added line."
    )
    assert updated is not None
    assert (updated.story_id, updated.same_story_as) == (original.article_id, None)

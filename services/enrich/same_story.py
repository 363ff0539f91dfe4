"""Same story: near-duplicate detection across sources with MinHash and LSH.

Wire copy is republished by many sources with small edits (a rewritten lead, a trimmed ending,
a changed quote). Each body becomes a set of word shingles; its MinHash signature estimates the
Jaccard similarity of two such sets. LSH splits the signature into bands: two articles sharing a
band are candidates, and a candidate at or above the threshold is the same story.

The signature is computed here with numpy, hash for hash what datasketch 2.0's `MinHash`
(scheme "affine32", seed `SEED`) computes, so signatures stored by earlier releases still
compare; a test checks the two agree. Importing datasketch costs about 2.8 s and 60 MB per process (it
loads scipy for its LSH tuning), which an enrich replica does not need.

The index is ours, in Redis, so replicas share it: datasketch's Redis storage (and its
`aio.AsyncMinHashLSH`) opens its own connection, pickles its keys and knows nothing of our ACL
user, TLS or cluster hash tags, so the band buckets are a small layout of our own:
- `<prefix>:band:<b>:<hash>`: set of article ids whose band `b` hashes to `<hash>`;
- `<prefix>:sig`: hash article id -> signature (uint64 hash values, little-endian bytes);
- `<prefix>:story`: hash article id -> story id (the first copy's article id);
- `<prefix>:title`: hash article id -> headline, for the related link;
- `<prefix>:seen`: sorted set article id -> published time (epoch seconds), to trim by age: an
  expired article's band hashes are computed again from its stored signature.
Every key carries one hash tag, so a pipeline stays on one slot of a Redis Cluster.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import numpy as np
import redis.asyncio as aioredis

from shared import streams
from shared.events import RelatedKind, RelatedLink, SameStory
from shared.runtime.consumer import Op
from shared.wire import as_text

NUM_PERM: Final = 128  # signature length: standard error of the Jaccard estimate about 0.04
# 64 bands of 2 rows: a pair at Jaccard 0.2 is a candidate 93% of the time, unrelated texts (Jaccard
# under 0.01 on word 3-grams) under 1%; candidates are then checked against the threshold.
BANDS: Final = 64
ROWS: Final = NUM_PERM // BANDS
SHINGLE_WORDS: Final = 3  # word 3-grams: shared phrases, not shared vocabulary
MIN_SHINGLES: Final = 20  # shorter bodies (briefs, results lines) say too little to match on
SEED: Final = 1  # every replica and every run must hash alike
PREFIX: Final = streams.SAME_STORY_PREFIX

_WORD: Final = re.compile(r"\w+", re.UNICODE)


def shingles(text: str, k: int = SHINGLE_WORDS) -> set[bytes]:
    """Case-folded word k-grams; punctuation, quote style and spacing do not matter."""
    words = _WORD.findall(text.casefold())
    return {" ".join(words[i : i + k]).encode() for i in range(max(len(words) - k + 1, 0))}


# Each signature position is a permutation of 32-bit hashes, h -> (a * h + b) mod 2^32 with an odd
# `a` (a bijection, so no collisions are added), applied after one MurmurHash3 finalizer mix of the
# shingle's SHA-1 prefix; (a, b) pairs come from a seeded generator so every replica agrees.
_MASK: Final = np.uint32(0xFFFFFFFF)
_FMIX: Final = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))
# Shingles hashed per numpy step: bounds the (chunk x NUM_PERM) matrix at 512 KiB.
_CHUNK: Final = 1024


def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.RandomState(seed)
    a = generator.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = generator.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    a.flags.writeable = b.flags.writeable = False
    return a, b


_A, _B = _permutations(NUM_PERM, SEED)


def _hash32(gram: bytes) -> int:
    return int.from_bytes(hashlib.sha1(gram).digest()[:4], "little")  # noqa: S324 - a hash, not security


def _mix(h: np.ndarray) -> np.ndarray:
    shift1, multiply1, shift2, multiply2, shift3 = _FMIX
    h = (h ^ (h >> shift1)) * multiply1  # uint32 products wrap: that is the modulus
    h = (h ^ (h >> shift2)) * multiply2
    mixed: np.ndarray = h ^ (h >> shift3)
    return mixed


def signature(grams: set[bytes]) -> np.ndarray:
    """The MinHash signature of a set of shingles (uint64 array): per position, the least hash."""
    values = np.full(NUM_PERM, _MASK, dtype=np.uint32)
    ordered = list(grams)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        hashed = _mix(np.fromiter(map(_hash32, chunk), dtype=np.uint32, count=len(chunk)).reshape(-1, 1))
        np.minimum(values, (hashed * _A + _B).min(axis=0), out=values)
    return values.astype(np.uint64)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """MinHash estimate of the Jaccard similarity: the share of equal hash values."""
    return float(np.count_nonzero(a == b)) / len(a)


def band_hashes(sig: np.ndarray) -> list[str]:
    return [
        hashlib.blake2b(sig[i * ROWS : (i + 1) * ROWS].tobytes(), digest_size=8).hexdigest()
        for i in range(BANDS)
    ]


def body_signature(body: str) -> np.ndarray | None:
    grams = shingles(body)
    return signature(grams) if len(grams) >= MIN_SHINGLES else None


@dataclass(frozen=True)
class Match:
    """What the index says of one article: its story, and the copy it repeats (None: first)."""

    story_id: str
    same_story_as: SameStory | None
    first_title: str | None = None

    def link(self) -> RelatedLink | None:
        if self.same_story_as is None:
            return None
        return RelatedLink(
            kind=RelatedKind.SAME_STORY,
            title=self.first_title or self.same_story_as.article_id,
            article_id=self.same_story_as.article_id,
            score=round(self.same_story_as.similarity, 4),
            reason=f"same story (similarity {self.same_story_as.similarity:.2f})",
        )


class SameStoryIndex:
    def __init__(self, client: aioredis.Redis, *, threshold: float, prefix: str = PREFIX) -> None:
        self.client = client
        self.threshold = threshold
        self.prefix = prefix

    def _band_key(self, band: int, digest: str) -> str:
        return f"{self.prefix}:band:{band}:{digest}"

    async def match_and_add(
        self, article_id: str, title: str, body: str, published: datetime | None = None
    ) -> Match | None:
        """The article's story (adding it to the index); None when the body is too short to tell.

        A later version keeps its story id; the article itself is never its own candidate, so a
        redelivery finds what the first delivery found.
        """
        sig = body_signature(body)
        if sig is None:
            return None
        bands = band_hashes(sig)
        pipe = self.client.pipeline(transaction=False)
        for band, digest in enumerate(bands):
            pipe.smembers(self._band_key(band, digest))
        pipe.hget(f"{self.prefix}:story", article_id)
        *members, own_story = await pipe.execute()
        candidates = sorted({as_text(m) for group in members for m in group} - {article_id})

        best: tuple[float, str] | None = None
        stories: dict[str, str] = {}
        if candidates:
            pipe = self.client.pipeline(transaction=False)
            pipe.hmget(f"{self.prefix}:sig", candidates)
            pipe.hmget(f"{self.prefix}:story", candidates)
            sigs, story_ids = await pipe.execute()
            for candidate, raw, story in zip(candidates, sigs, story_ids, strict=True):
                if raw is None:
                    continue
                score = similarity(sig, np.frombuffer(raw, dtype=np.uint64))
                stories[candidate] = as_text(story) if story is not None else candidate
                if score >= self.threshold and (best is None or score > best[0]):
                    best = (score, candidate)

        if own_story is not None:
            story_id = as_text(own_story)
        elif best is not None:
            story_id = stories[best[1]]
        else:
            story_id = article_id
        same = None
        first_title = None
        if story_id != article_id:
            score = best[0] if best is not None else 0.0
            same = SameStory(article_id=story_id, similarity=round(min(score, 1.0), 4))
            first_title = await self.client.hget(f"{self.prefix}:title", story_id)  # type: ignore[misc]

        pipe = self.client.pipeline(transaction=False)
        for band, digest in enumerate(bands):
            pipe.sadd(self._band_key(band, digest), article_id)
        pipe.hset(f"{self.prefix}:sig", article_id, sig.tobytes())  # type: ignore[arg-type]
        pipe.hset(f"{self.prefix}:story", article_id, story_id)
        pipe.hset(f"{self.prefix}:title", article_id, title)
        if published is not None:
            pipe.zadd(f"{self.prefix}:seen", {article_id: published.timestamp()})
        await pipe.execute()
        return Match(story_id, same, as_text(first_title) if first_title is not None else None)

    async def match_many(
        self, articles: Sequence[tuple[str, str, str]], *, published: Sequence[datetime] | None = None
    ) -> list[Match | None]:
        """In order, so a later copy in the same batch finds an earlier one. `published` (one per
        article) records when each was published, which `trim_ops` trims by."""
        when: Sequence[datetime | None] = published if published is not None else [None] * len(articles)
        return [await self.match_and_add(*a, w) for a, w in zip(articles, when, strict=True)]

    async def trim_ops(self, *, before: float, limit: int) -> list[Op]:
        """The commands that drop up to `limit` articles published before `before` (epoch seconds)
        from the buckets and hashes; returned for the stage's commit. Idempotent: no WATCH."""
        seen = f"{self.prefix}:seen"
        members = await self.client.zrange(seen, "-inf", f"({before}", byscore=True, offset=0, num=limit)
        expired = [as_text(m) for m in members]
        if not expired:
            return []
        sigs = await self.client.hmget(f"{self.prefix}:sig", expired)  # type: ignore[misc]
        ops: list[Op] = []
        for article_id, raw in zip(expired, sigs, strict=True):
            if raw is not None:
                bands = band_hashes(np.frombuffer(raw, dtype=np.uint64))
                ops += [
                    Op(k, "srem", (k, article_id))
                    for k in (self._band_key(b, d) for b, d in enumerate(bands))
                ]
        for field in ("sig", "story", "title"):
            key = f"{self.prefix}:{field}"
            ops.append(Op(key, "hdel", (key, *expired)))
        ops.append(Op(seen, "zrem", (seen, *expired)))
        return ops

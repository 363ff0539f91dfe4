"""The newsflow Redis Functions library: every server-side script of the pipeline, in one place.

Services call these with `FCALL` (https://redis.io/docs/latest/develop/interactions/programmability/functions-intro/)
instead of sending Lua with `EVAL`: their Redis users hold `+fcall`/`+fcall_ro` and no `+eval`, so
a compromised service can run only the code below, never a loop of its own that blocks Redis for
everyone. The library is loaded by an admin (`newsflow redis functions load`, `FUNCTION LOAD
REPLACE` on every master, idempotent), or by a service whose user may (`newsflow demo`, tests, a
one-user dev Redis).

Every new connection of a service's client checks the library first (`on_connect`, one `FCALL_RO`
per connection, none per command): a Redis restarted without it, or with another build's, is
re-loaded when the user may, else every command fails with `LibraryUnavailableError` naming the
command to run, until an admin has loaded it. The check must come before any transaction: inside
`MULTI`, an `FCALL` of a missing function fails alone at `EXEC` while the `XACK` beside it runs.

Each function keeps the key and argument layout its `EVAL` script had; keys are declared, so the
cluster routes each call by its keys (one hash slot per call, as before).
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisError, ResponseError

from shared.logging import get_logger
from shared.wire import as_text

log = get_logger(__name__)

LIBRARY_NAME: Final = "newsflow"
# Bump on a change of meaning (a new argument layout); any edit of the Lua changes the digest
# appended to it (`LIBRARY_IDENTITY`), so a library of another build is never taken for ours.
LIBRARY_VERSION: Final = 2
LOAD_COMMAND: Final = "newsflow redis functions load"

# Function names are global across a Redis server's libraries, hence the prefix.
VERSION: Final = "newsflow_version"
# KEYS: versions hash, latest hash, output stream, then one hash per extra value.
# ARGV: article_id, version, latest JSON, number of extra values, extra values...,
# number of trim args, trim args..., field/value pairs. Returns 1 when written, 0 when stale.
GUARDED_XADD: Final = "newsflow_guarded_xadd"
# The same guard for many articles at once, in order (a batch's publishes in one call, not one
# each). KEYS: as GUARDED_XADD's. ARGV: number of trim args, trim args..., then per article:
# article_id, version, latest JSON, one extra value per extra hash, number of field/value items,
# field/value items. Returns 1 (written) or 0 (stale) per article, in order.
GUARDED_XADD_MANY: Final = "newsflow_guarded_xadd_many"
# Publish's listing index (services/publish/listing.py), a batch's writes in one call. KEYS: every
# record and sorted set written (one hash tag, so one slot). ARGV per article: its record's KEYS
# index, article id, score, record JSON, then the KEYS indexes of the sorted sets to leave and of
# those to join, each comma-separated. Returns the number of articles written.
INDEX_APPLY: Final = "newsflow_index_apply"
# KEYS: the guard's (versions, latest, published stream, tagged), then due zset, held hash, held
# versions hash. ARGV: exactly the guard's. Returns -1 when the version read is no longer held
# (released by another replica, or replaced), else what the guard returns (1 written, 0 stale).
EMBARGO_RELEASE: Final = "newsflow_embargo_release"
# KEYS: dead-letter stream, target stream. ARGV: dead-letter id, then the original field/values.
# Returns the new entry id, or false when the dead letter is gone (replayed or purged meanwhile).
DLQ_MOVE_BACK: Final = "newsflow_dlq_move_back"
# The entity registry (services/enrich/registry.py); KEYS[1] = P:doc and ARGV[1] = the prefix P
# for all of them, every other key is under P (one hash tag).
# ARGV = prefix, article id. A withdrawn article leaves every entity's list.
REGISTRY_WITHDRAW: Final = "newsflow_registry_withdraw"
# ARGV = prefix, new entities JSON: [{claim ("" for none), id, doc (card JSON), idents
# [identifier keys]}], in the article's order. Returns each one's id: its own, or that of the
# entity that already holds its claim or one of its identifiers (an earlier one of the list too).
REGISTRY_CREATE: Final = "newsflow_registry_create"
# ARGV = prefix, article id, published epoch seconds, items JSON. Each item: {id, type, names
# {normalised: surface}, titles [..], identifiers {field: value}, keys {kind: [..]}}. An article
# counts once per entity (ZADD says whether it is new), so a redelivery changes nothing.
REGISTRY_APPLY: Final = "newsflow_registry_apply"
# ARGV = prefix, source id, target id, now. Index sets, articles and context move to the target.
REGISTRY_MERGE: Final = "newsflow_registry_merge"
# ARGV = prefix, id, new name, its normalised form, now.
REGISTRY_RENAME: Final = "newsflow_registry_rename"
# ARGV = prefix, id, field, value, now. Refused when another entity holds the identifier.
REGISTRY_IDENTIFY: Final = "newsflow_registry_identify"
# ARGV = prefix, id, new id, the normalised alias to split off, now. The articles where the
# entity went by that name move to the new entity (wholly when it was the only name there).
REGISTRY_SPLIT: Final = "newsflow_registry_split"


def _indent(code: str) -> str:
    return "".join(f"  {line}\n" if line.strip() else "\n" for line in code.splitlines())


_GUARD = """
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) <= current then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local nextra = tonumber(ARGV[4])
for i = 1, nextra do redis.call('HSET', KEYS[3 + i], ARGV[1], ARGV[4 + i]) end
local at = 5 + nextra
local ntrim = tonumber(ARGV[at])
local args = {KEYS[3]}
for i = 1, ntrim do args[#args + 1] = ARGV[at + i] end
args[#args + 1] = '*'
for i = at + 1 + ntrim, #ARGV do args[#args + 1] = ARGV[i] end
redis.call('XADD', unpack(args))
return 1
"""

_GUARD_MANY = """
local ntrim = tonumber(ARGV[1])
local head = {KEYS[3]}
for i = 1, ntrim do head[#head + 1] = ARGV[1 + i] end
head[#head + 1] = '*'
local nextra = #KEYS - 3
local out = {}
local at = 2 + ntrim
while at <= #ARGV do
  local id, version = ARGV[at], ARGV[at + 1]
  local nitems = tonumber(ARGV[at + 3 + nextra])
  local first = at + 4 + nextra
  local current = tonumber(redis.call('HGET', KEYS[1], id) or '0')
  if tonumber(version) <= current then
    out[#out + 1] = 0
  else
    redis.call('HSET', KEYS[1], id, version)
    redis.call('HSET', KEYS[2], id, ARGV[at + 2])
    for i = 1, nextra do redis.call('HSET', KEYS[3 + i], id, ARGV[at + 2 + i]) end
    local args = {unpack(head)}
    for i = first, first + nitems - 1 do args[#args + 1] = ARGV[i] end
    redis.call('XADD', unpack(args))
    out[#out + 1] = 1
  end
  at = first + nitems
end
return out
"""

_INDEX_APPLY = """
local n = 0
for i = 1, #ARGV, 6 do
  local id, score = ARGV[i + 1], ARGV[i + 2]
  redis.call('SET', KEYS[tonumber(ARGV[i])], ARGV[i + 3])
  for k in string.gmatch(ARGV[i + 4], '%d+') do redis.call('ZREM', KEYS[tonumber(k)], id) end
  for k in string.gmatch(ARGV[i + 5], '%d+') do redis.call('ZADD', KEYS[tonumber(k)], score, id) end
  n = n + 1
end
return n
"""

_RELEASE = """
local held = redis.call('HGET', KEYS[#KEYS], ARGV[1])
if held ~= ARGV[2] then return -1 end
redis.call('ZREM', KEYS[#KEYS - 2], ARGV[1])
redis.call('HDEL', KEYS[#KEYS - 1], ARGV[1])
redis.call('HDEL', KEYS[#KEYS], ARGV[1])
"""

_MOVE = """
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return false end
local id = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
redis.call('XDEL', KEYS[1], ARGV[1])
return id
"""

_FOLLOW = """
local function follow(p, id)
  for _ = 1, 16 do
    local nxt = redis.call('HGET', p .. ':redirect', id)
    if not nxt then return id end
    id = nxt
  end
  return id
end
"""

_FORGET = """
local function forget(p, docs, aid, id)
  redis.call('HDEL', p .. ':art:' .. aid, id)
  if redis.call('ZREM', p .. ':arts:' .. id, aid) == 1 then
    local raw = redis.call('HGET', docs, id)
    if raw then
      local doc = cjson.decode(raw)
      doc.articles = redis.call('ZCARD', p .. ':arts:' .. id)
      redis.call('HSET', docs, id, cjson.encode(doc))
    end
  end
end
"""

_WITHDRAW = """
local p, aid = ARGV[1], ARGV[2]
local ids = redis.call('HKEYS', p .. ':art:' .. aid)
for _, id in ipairs(ids) do forget(p, KEYS[1], aid, id) end  -- the emptied hash is gone
return #ids
"""

_CREATE = """
local p = ARGV[1]
local function create(new)
  if new.claim ~= '' then
    local have = redis.call('HGET', p .. ':claim', new.claim)
    if have then return follow(p, have) end
  end
  for _, key in ipairs(new.idents) do
    local owner = redis.call('HGET', p .. ':ident', key)
    if owner then return follow(p, owner) end
  end
  redis.call('HSET', KEYS[1], new.id, new.doc)
  if new.claim ~= '' then redis.call('HSET', p .. ':claim', new.claim, new.id) end
  for _, key in ipairs(new.idents) do redis.call('HSET', p .. ':ident', key, new.id) end
  return new.id
end
local out = {}
for i, new in ipairs(cjson.decode(ARGV[2])) do out[i] = create(new) end
return out
"""

_APPLY = """
local p, aid, ts = ARGV[1], ARGV[2], tonumber(ARGV[3])
local items = cjson.decode(ARGV[4])
local ids = {}
local now = {}
for i, item in ipairs(items) do ids[i] = follow(p, item.id); now[ids[i]] = true end
local out = {}
-- A later version that no longer names an entity leaves that entity's article list.
for _, old in ipairs(redis.call('HKEYS', p .. ':art:' .. aid)) do
  if not now[old] then forget(p, KEYS[1], aid, old) end
end
for i, item in ipairs(items) do
  local id = ids[i]
  local raw = redis.call('HGET', KEYS[1], id)
  if raw then
    local doc = cjson.decode(raw)
    local added = redis.call('ZADD', p .. ':arts:' .. id, ts, aid)
    local surfaces = {}
    for norm, _ in pairs(item.names) do surfaces[#surfaces + 1] = norm end
    redis.call('HSET', p .. ':art:' .. aid, id, cjson.encode(surfaces))
    if added == 1 then
      doc.articles = redis.call('ZCARD', p .. ':arts:' .. id)
      doc.type_counts[item.type] = (doc.type_counts[item.type] or 0) + 1
      for norm, surface in pairs(item.names) do
        local seen = doc.names[norm]
        if seen then seen.count = seen.count + 1 else doc.names[norm] = {text = surface, count = 1} end
      end
      local have = {}
      for _, t in ipairs(doc.titles) do have[t] = true end
      for _, t in ipairs(item.titles) do
        if not have[t] then doc.titles[#doc.titles + 1] = t; have[t] = true end
      end
      for j, other in ipairs(ids) do
        if other ~= id then redis.call('ZINCRBY', p .. ':co:' .. id, 1, other) end
      end
      if doc.first_seen == cjson.null or ts < doc.first_seen then doc.first_seen = ts end
      if doc.last_seen == cjson.null or ts > doc.last_seen then doc.last_seen = ts end
      local best, best_n = doc.type, doc.type_counts[doc.type] or 0
      for t, n in pairs(doc.type_counts) do
        if n > best_n then best, best_n = t, n end
      end
      doc.type = best
    end
    for field, value in pairs(item.identifiers) do
      local key = field .. ':' .. value
      if not redis.call('HGET', p .. ':ident', key) then
        redis.call('HSET', p .. ':ident', key, id)
        if doc.identifiers[field] == nil then doc.identifiers[field] = value end
      end
    end
    for kind, values in pairs(item.keys) do
      for _, v in ipairs(values) do
        if kind == 'search' then
          redis.call('ZADD', p .. ':names', 0, v .. '\\0' .. id)
        else
          redis.call('SADD', p .. ':' .. kind .. ':' .. v, id)
        end
      end
    end
    redis.call('HSET', KEYS[1], id, cjson.encode(doc))
  end
  out[i] = id
end
return out
"""

_MERGE = """
local src, dst, now = ARGV[2], ARGV[3], ARGV[4]
local a, b = load_doc(KEYS[1], src), load_doc(KEYS[1], dst)
for norm, seen in pairs(a.names) do
  local have = b.names[norm]
  if have then have.count = have.count + seen.count else b.names[norm] = seen end
end
for t, n in pairs(a.type_counts) do b.type_counts[t] = (b.type_counts[t] or 0) + n end
for field, value in pairs(a.identifiers) do
  if b.identifiers[field] == nil then b.identifiers[field] = value end
end
for field, value in pairs(a.identifiers) do
  redis.call('HSET', p .. ':ident', field .. ':' .. value, dst)
end
local titles = list(b.titles)
for _, t in ipairs(list(a.titles)) do titles[#titles + 1] = t end
b.titles = titles
-- Index sets and claims keep the merged id: lookups follow the redirect to the survivor.
local arts = redis.call('ZRANGE', p .. ':arts:' .. src, 0, -1, 'WITHSCORES')
for i = 1, #arts, 2 do
  redis.call('ZADD', p .. ':arts:' .. dst, arts[i + 1], arts[i])
  local key = p .. ':art:' .. arts[i]
  local mine = redis.call('HGET', key, src)
  if mine then
    local theirs = redis.call('HGET', key, dst)
    local merged = cjson.decode(mine)
    if theirs then for _, n in ipairs(cjson.decode(theirs)) do merged[#merged + 1] = n end end
    redis.call('HSET', key, dst, cjson.encode(merged))
    redis.call('HDEL', key, src)
  end
end
redis.call('ZREMRANGEBYRANK', p .. ':arts:' .. src, 0, -1)  -- not DEL: publish's user has none
local co = redis.call('ZRANGE', p .. ':co:' .. src, 0, -1, 'WITHSCORES')
for i = 1, #co, 2 do
  if co[i] ~= dst then redis.call('ZINCRBY', p .. ':co:' .. dst, co[i + 1], co[i]) end
end
redis.call('ZREM', p .. ':co:' .. dst, src)
redis.call('ZREMRANGEBYRANK', p .. ':co:' .. src, 0, -1)
b.articles = redis.call('ZCARD', p .. ':arts:' .. dst)
local function earlier(x, y) return x ~= cjson.null and (y == cjson.null or x < y) end
local function later(x, y) return x ~= cjson.null and (y == cjson.null or x > y) end
if earlier(a.first_seen, b.first_seen) then b.first_seen = a.first_seen end
if later(a.last_seen, b.last_seen) then b.last_seen = a.last_seen end
local from = list(b.merged_from)
from[#from + 1] = src
for _, m in ipairs(list(a.merged_from)) do from[#from + 1] = m end
b.merged_from = from
note(b, now, 'merged', src .. ' (' .. a.name .. ') merged into this entity')
note(a, now, 'merged_into', dst)
a.merged_into = dst
save_doc(KEYS[1], a)
save_doc(KEYS[1], b)
redis.call('HSET', p .. ':redirect', src, dst)
return dst
"""

_RENAME = """
local id, name, norm, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local doc = load_doc(KEYS[1], id)
local old = doc.name
doc.name = name
if doc.names[norm] == nil then doc.names[norm] = {text = name, count = 0} end
redis.call('SADD', p .. ':name:' .. norm, id)
redis.call('ZADD', p .. ':names', 0, norm .. '\\0' .. id)
note(doc, now, 'renamed', old .. ' -> ' .. name)
save_doc(KEYS[1], doc)
return id
"""

_IDENTIFY = """
local id, field, value, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local doc = load_doc(KEYS[1], id)
local key = field .. ':' .. value
local owner = redis.call('HGET', p .. ':ident', key)
if owner and follow(p, owner) ~= id then error(key .. ' belongs to ' .. follow(p, owner)) end
redis.call('HSET', p .. ':ident', key, id)
doc.identifiers[field] = value
note(doc, now, 'identifier', key)
save_doc(KEYS[1], doc)
return id
"""

_SPLIT = """
local id, new, norm, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local doc = load_doc(KEYS[1], id)
local seen = doc.names[norm]
doc.names[norm] = nil
local nd = {id = new, name = seen.text, type = doc.type, names = {}, titles = {}, identifiers = {},
            type_counts = {}, articles = 0, first_seen = cjson.null, last_seen = cjson.null,
            merged_from = {},
            history = {{at = now, action = 'split_from', detail = id .. ' (' .. doc.name .. ')'}}}
nd.names[norm] = seen
nd.type_counts[doc.type] = 0
local arts = redis.call('ZRANGE', p .. ':arts:' .. id, 0, -1, 'WITHSCORES')
for i = 1, #arts, 2 do
  local aid, ts = arts[i], tonumber(arts[i + 1])
  local key = p .. ':art:' .. aid
  local raw = redis.call('HGET', key, id)
  if raw then
    local names, keep, moved = cjson.decode(raw), {}, false
    for _, n in ipairs(names) do
      if n == norm then moved = true else keep[#keep + 1] = n end
    end
    if moved then
      redis.call('ZADD', p .. ':arts:' .. new, ts, aid)
      redis.call('HSET', key, new, cjson.encode({norm}))
      nd.type_counts[doc.type] = nd.type_counts[doc.type] + 1
      if nd.first_seen == cjson.null or ts < nd.first_seen then nd.first_seen = ts end
      if nd.last_seen == cjson.null or ts > nd.last_seen then nd.last_seen = ts end
      if #keep == 0 then
        redis.call('ZREM', p .. ':arts:' .. id, aid)
        redis.call('HDEL', key, id)
        doc.type_counts[doc.type] = math.max((doc.type_counts[doc.type] or 1) - 1, 0)
      else
        redis.call('HSET', key, id, cjson.encode(keep))
      end
    end
  end
end
redis.call('SREM', p .. ':name:' .. norm, id)
redis.call('SADD', p .. ':name:' .. norm, new)
redis.call('ZREM', p .. ':names', norm .. '\\0' .. id)
redis.call('ZADD', p .. ':names', 0, norm .. '\\0' .. new)
nd.articles = redis.call('ZCARD', p .. ':arts:' .. new)
doc.articles = redis.call('ZCARD', p .. ':arts:' .. id)
note(doc, now, 'split', seen.text .. ' -> ' .. new)
save_doc(KEYS[1], doc)
save_doc(KEYS[1], nd)
return new
"""


_EDIT_HELPERS = """
local function load_doc(docs, id)
  local raw = redis.call('HGET', docs, id)
  if not raw then error('no entity ' .. id) end
  return cjson.decode(raw)
end
local function save_doc(docs, doc) redis.call('HSET', docs, doc.id, cjson.encode(doc)) end
local function list(t) if type(t) ~= 'table' then return {} end return t end
local function note(doc, now, action, detail)
  local hist = list(doc.history)
  hist[#hist + 1] = {at = now, action = action, detail = detail}
  doc.history = hist
end
"""

# Shared by several functions: library-level locals (a library may define no globals).
_HELPERS = (
    _FOLLOW
    + _FORGET
    + _EDIT_HELPERS
    + "local function guarded_xadd(KEYS, ARGV)\n"
    + _indent(_GUARD)
    + "end\n"
)

# (name, body): each body sees the KEYS and ARGV of its FCALL, as an EVAL script did.
_FUNCTIONS: Final[tuple[tuple[str, str], ...]] = (
    (GUARDED_XADD, "return guarded_xadd(KEYS, ARGV)\n"),
    (GUARDED_XADD_MANY, _GUARD_MANY),
    (INDEX_APPLY, _INDEX_APPLY),
    (EMBARGO_RELEASE, _RELEASE + "return guarded_xadd(KEYS, ARGV)\n"),
    (DLQ_MOVE_BACK, _MOVE),
    (REGISTRY_WITHDRAW, _WITHDRAW),
    (REGISTRY_CREATE, _CREATE),
    (REGISTRY_APPLY, _APPLY),
    (REGISTRY_MERGE, "local p = ARGV[1]\n" + _MERGE),
    (REGISTRY_RENAME, "local p = ARGV[1]\n" + _RENAME),
    (REGISTRY_IDENTIFY, "local p = ARGV[1]\n" + _IDENTIFY),
    (REGISTRY_SPLIT, "local p = ARGV[1]\n" + _SPLIT),
)


def _build() -> tuple[str, str]:
    """The library's code and its identity (version and digest of the code), which
    `newsflow_version` returns."""
    body = _HELPERS + "".join(
        f"redis.register_function('{name}', function(KEYS, ARGV)\n{_indent(code)}end)\n"
        for name, code in _FUNCTIONS
    )
    identity = f"{LIBRARY_VERSION}-{hashlib.sha256(body.encode()).hexdigest()[:12]}"
    version = (
        f"redis.register_function{{function_name = '{VERSION}', flags = {{'no-writes'}},\n"
        f"  callback = function() return '{identity}' end}}\n"
    )
    return f"#!lua name={LIBRARY_NAME}\n" + body + version, identity


LIBRARY_CODE, LIBRARY_IDENTITY = _build()


class LibraryUnavailableError(RedisError):
    """The library is missing (or another build's) and this user may not load it."""


def _not_found(exc: ResponseError) -> bool:
    return "function not found" in str(exc).lower()


def unavailable(found: str | None, why: str) -> LibraryUnavailableError:
    have = f"version {found} is loaded" if found else "it is not loaded"
    return LibraryUnavailableError(
        f"Redis Functions library {LIBRARY_NAME!r} {LIBRARY_IDENTITY} is needed but {have}, and "
        f"this Redis user may not load it ({why}). Run `{LOAD_COMMAND}` as the admin user."
    )


async def on_connect(connection: AbstractConnection) -> None:
    """`redis_connect_func` of the services' clients: the usual handshake, then the library check.

    Runs on every new connection, so after a Redis restart without the library the first
    connection to the new server loads it (or refuses) before any command of ours is sent.
    """
    await connection.on_connect()
    await connection.send_command("FCALL_RO", VERSION, 0)
    try:
        found: str | None = as_text(await connection.read_response())
    except ResponseError as exc:
        if not _not_found(exc):
            raise unavailable(None, str(exc)) from exc  # e.g. NOPERM: the user lacks +fcall_ro
        found = None
    if found == LIBRARY_IDENTITY:
        return
    await connection.send_command("FUNCTION", "LOAD", "REPLACE", LIBRARY_CODE)
    try:
        await connection.read_response()
    except ResponseError as exc:
        if str(exc).startswith("READONLY"):
            return  # a replica: it gets the library from its master
        raise unavailable(found, str(exc)) from exc
    log.info(
        "loaded the redis functions library", library=LIBRARY_NAME, version=LIBRARY_IDENTITY, found=found
    )


async def loaded_identity(client: aioredis.Redis) -> str | None:
    """What `newsflow_version` answers on the node `client` picks; None when not loaded."""
    try:
        reply = await client.fcall_ro(VERSION, 0)  # type: ignore[misc]
    except ResponseError as exc:
        if _not_found(exc):
            return None
        raise
    return as_text(reply)


async def load(client: aioredis.Redis) -> list[str]:
    """`FUNCTION LOAD REPLACE` on Redis, or on every master of a cluster; the nodes loaded."""
    if isinstance(client, RedisCluster):
        await client.execute_command(
            "FUNCTION LOAD", "REPLACE", LIBRARY_CODE, target_nodes=RedisCluster.PRIMARIES
        )
        return sorted(node.name for node in client.get_primaries())
    await client.function_load(LIBRARY_CODE, replace=True)  # type: ignore[misc]
    kwargs = client.connection_pool.connection_kwargs
    return [f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"]


async def fcall(client: Any, function: str, keys: list[str], args: list[Any]) -> Any:
    """`FCALL function` with `keys` declared (they route the call on a cluster)."""
    return await client.fcall(function, len(keys), *keys, *args)

"""Redis store: shared state for many hosts, every update atomic in one Lua script.

A protected request costs at most one round trip for its signals: the
reservation script reads the read windows, the holds, the last seen place
and the other live sessions, and places the hold. Settling after the
response is a second script. Sockets time out quickly; any Redis error
becomes StoreError (the guard answers 503) and the next request reconnects.

Keys (prefix ``accessguard:``): ``session:<id>`` (hash), ``sessions:<pro>``
(set of live session ids), ``revoked:<id>`` (hash: a revoked session without
its factors, until it would have expired), ``totp:<pro>``, ``ephemeral:<key>`` (JSON), ``seen:<pro>`` (JSON),
``reads:<scope>`` (sorted set: patient → latest read time; for a ``who:`` scope, professional → latest read),
``daily:<pro>`` (hash: UTC day → distinct patients), ``peer_day:<group>:<day>`` (hash: professional → distinct
patients), ``peers:<group>`` (JSON: the group's summary and its day), ``places:<pro>`` (sorted set: place → time),
``holds:<scope>`` (sorted set: ``<hold id>:<count>`` → time),
``attempts:<key>`` (JSON: count, lock end, when forgotten; every key of one attempt
charged in one Lua script, the schedule of ``store/base.py`` ``charge`` in Lua),
``suspended:<pro>`` (present while the professional is suspended; no expiry).
One script touches keys of a professional and of an organisation, so the
store needs a standalone Redis (or Sentinel), not Redis Cluster.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from accessguard.errors import ConfigurationError, StoreError
from accessguard.signals.baseline import HISTORY_DAYS, NO_PEERS, PeerDays, peer_days
from accessguard.signals.geo import Location
from accessguard.signals.velocity import LastSeen
from accessguard.store.base import (
    DAY_S,
    LIVE_SESSION_S,
    MAX_LIVE_SESSIONS,
    PLACE_HISTORY_S,
    RESERVATION_TTL_S,
    WINDOWS,
    Attempt,
    Backoff,
    ReadRequest,
    Reservation,
    Session,
    count_windows,
    counted_scopes,
    day_of,
    hold_scopes,
    professional_scopes,
    retention_s,
    usage_of,
)

PREFIX = "accessguard:"
#: Seconds a command may take before the request fails closed (overridable in the URL: ``?socket_timeout=``).
SOCKET_TIMEOUT_S = 0.5
READS_TTL_S = max(WINDOWS.values()) + 3600
SEEN_TTL_S = 90 * 86400
TOTP_TTL_S = 3600

# KEYS: every key the spec names by index. ARGV[1]: the spec (JSON): counts ([key, cutoff] pairs), holds
# (keys), holding (1 where the hold member, when not "", is added), hold_cutoff, seen, sessions, session, suspended,
# daily, peers, places (keys), session_id, seen_now (JSON or ""), places_asked, place_cutoff, now.
# Returns (JSON): counts, held, suspended, previous (or false), live (where each other live session was
# seen), daily (flat day/count list), peers (JSON or false), places_seen, places_known.
_RESERVE = """
local spec = cjson.decode(ARGV[1])
local now = spec.now
local result = {counts = {}, held = {}, live = {}, places_seen = {}}
for _, pair in ipairs(spec.counts) do
  result.counts[#result.counts + 1] = redis.call('ZCOUNT', KEYS[pair[1]], pair[2], '+inf')
end
for i, index in ipairs(spec.holds) do
  local holds = KEYS[index]
  redis.call('ZREMRANGEBYSCORE', holds, '-inf', spec.hold_cutoff)
  local total = 0
  for _, held in ipairs(redis.call('ZRANGE', holds, 0, -1)) do
    total = total + tonumber(string.match(held, ':(%d+)$'))
  end
  result.held[#result.held + 1] = total
  if spec.member ~= '' and spec.holding[i] == 1 then
    redis.call('ZADD', holds, now, spec.member)
    redis.call('EXPIRE', holds, $HOLD_TTL)
  end
end
result.suspended = redis.call('EXISTS', KEYS[spec.suspended])
result.previous = redis.call('GET', KEYS[spec.seen])
result.daily = redis.call('HGETALL', KEYS[spec.daily])
result.peers = redis.call('GET', KEYS[spec.peers])
for _, place in ipairs(spec.places_asked) do
  local at = redis.call('ZSCORE', KEYS[spec.places], place)
  if at and tonumber(at) > tonumber(spec.place_cutoff) then result.places_seen[#result.places_seen + 1] = place end
end
result.places_known = redis.call('ZCOUNT', KEYS[spec.places], '(' .. spec.place_cutoff, '+inf')
local sessions = KEYS[spec.sessions]
for _, sid in ipairs(redis.call('SMEMBERS', sessions)) do
  if sid ~= spec.session_id then
    local seen = redis.call('HMGET', '$PREFIXsession:' .. sid, 'expires', 'seen')
    if not seen[1] then
      redis.call('SREM', sessions, sid)
    elseif tonumber(seen[1]) > tonumber(now) and seen[2] then
      result.live[#result.live + 1] = seen[2]
    end
  end
end
if spec.seen_now ~= '' and redis.call('EXISTS', KEYS[spec.session]) == 1 then
  redis.call('HSET', KEYS[spec.session], 'seen', spec.seen_now)
end
return cjson.encode(result)
""".replace("$PREFIX", PREFIX).replace("$HOLD_TTL", str(2 * RESERVATION_TTL_S))

# KEYS: every key the spec names by index. ARGV[1]: the spec (JSON): reads ([key, prune cutoff] pairs, the
# professional's own first), holds (keys), member, who ([key, prune cutoff] pairs), professional, daily,
# peer_day, places, seen (keys), day_start, today, history_from, places_add, place_cutoff, seen_now, now, patients.
# A patient whose latest read in the professional's own scope is before today's start counts in today's counter.
_SETTLE = """
local spec = cjson.decode(ARGV[1])
local now = spec.now
for _, index in ipairs(spec.holds) do
  if spec.member ~= '' then redis.call('ZREM', KEYS[index], spec.member) end
end
local new_today = 0
if #spec.patients > 0 then
  local own = KEYS[spec.reads[1][1]]
  for _, patient in ipairs(spec.patients) do
    local at = redis.call('ZSCORE', own, patient)
    if not at or tonumber(at) < tonumber(spec.day_start) then new_today = new_today + 1 end
  end
end
for _, pair in ipairs(spec.reads) do
  local reads = KEYS[pair[1]]
  for _, patient in ipairs(spec.patients) do redis.call('ZADD', reads, 'GT', now, patient) end
  redis.call('ZREMRANGEBYSCORE', reads, '-inf', pair[2])
  if #spec.patients > 0 then redis.call('EXPIRE', reads, $READS_TTL) end
end
for _, pair in ipairs(spec.who) do
  if #spec.patients > 0 then
    redis.call('ZADD', KEYS[pair[1]], 'GT', now, spec.professional)
    redis.call('EXPIRE', KEYS[pair[1]], $READS_TTL)
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[pair[1]], '-inf', pair[2])
end
if new_today > 0 then
  redis.call('HINCRBY', KEYS[spec.daily], spec.today, new_today)
  redis.call('EXPIRE', KEYS[spec.daily], $HISTORY_TTL)
  if spec.peer_day > 0 then
    redis.call('HINCRBY', KEYS[spec.peer_day], spec.professional, new_today)
    redis.call('EXPIRE', KEYS[spec.peer_day], $HISTORY_TTL)
  end
end
for _, day in ipairs(redis.call('HKEYS', KEYS[spec.daily])) do
  if tonumber(day) < spec.history_from then redis.call('HDEL', KEYS[spec.daily], day) end
end
if #spec.patients > 0 and #spec.places_add > 0 then
  for _, place in ipairs(spec.places_add) do redis.call('ZADD', KEYS[spec.places], now, place) end
  redis.call('ZREMRANGEBYSCORE', KEYS[spec.places], '-inf', spec.place_cutoff)
  redis.call('EXPIRE', KEYS[spec.places], $PLACES_TTL)
end
if spec.seen_now ~= '' then redis.call('SET', KEYS[spec.seen], spec.seen_now, 'EX', $SEEN_TTL) end
return 0
""".replace("$READS_TTL", str(READS_TTL_S)).replace("$SEEN_TTL", str(SEEN_TTL_S))
_SETTLE = _SETTLE.replace("$HISTORY_TTL", str((HISTORY_DAYS + 2) * DAY_S)).replace("$PLACES_TTL", str(PLACE_HISTORY_S + DAY_S))

# KEYS: session:<id>; ARGV: factor, time
_RECORD_FACTOR = """
local factors = redis.call('HGET', KEYS[1], 'factors')
if not factors then return 0 end
local decoded = cjson.decode(factors)
decoded[ARGV[1]] = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'factors', cjson.encode(decoded))
return 1
"""

# KEYS: session:<id>, session:<new id>; ARGV: prefix, id, new id, factor, time
# RENAME keeps the expiry and the live-session fields ('seen'); a revoked session is no longer under session:<id>.
_ROTATE_SESSION = """
local factors = redis.call('HGET', KEYS[1], 'factors')
if not factors then return false end
local decoded = cjson.decode(factors)
decoded[ARGV[4]] = tonumber(ARGV[5])
local pro = redis.call('HGET', KEYS[1], 'professional_id')
redis.call('RENAME', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[2], 'factors', cjson.encode(decoded))
redis.call('SREM', ARGV[1] .. 'sessions:' .. pro, ARGV[2])
redis.call('SADD', ARGV[1] .. 'sessions:' .. pro, ARGV[3])
return redis.call('HMGET', KEYS[2], 'professional_id', 'created', 'expires', 'factors')
"""

# KEYS: session:<id>; ARGV: prefix
_DELETE_SESSION = """
local pro = redis.call('HGET', KEYS[1], 'professional_id')
redis.call('DEL', KEYS[1])
if pro then redis.call('SREM', ARGV[1] .. 'sessions:' .. pro, string.sub(KEYS[1], #ARGV[1] + 9)) end
return 0
"""

# KEYS: sessions:<pro>; ARGV: prefix, reason
# Each live session becomes revoked:<id> (RENAME keeps its expiry), so no other script finds it live.
_REVOKE_SESSIONS = """
local revoked = 0
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local live, kept = ARGV[1] .. 'session:' .. sid, ARGV[1] .. 'revoked:' .. sid
  if redis.call('EXISTS', live) == 1 then
    redis.call('RENAME', live, kept)
    redis.call('HDEL', kept, 'factors', 'seen')
    redis.call('HSET', kept, 'reason', ARGV[2])
    revoked = revoked + 1
  end
end
redis.call('DEL', KEYS[1])
return revoked
"""

# KEYS: attempts:<key>...; ARGV: now, then per key: max_attempts, first_lock_s, max_lock_s, forget_after_s
# The arithmetic of store/base.py ``charge``: while any key is locked nothing changes; times travel
# as %.17g strings (Lua's own number-to-string keeps 14 digits, too few for a Unix time with a fraction).
# Returns per key: 1 if admitted else 0, the count, the lock end (string).
_CHARGE_ATTEMPTS = """
local now = tonumber(ARGV[1])
local recorded, refused = {}, false
for i, key in ipairs(KEYS) do
  local raw = redis.call('GET', key)
  local attempts, locked_until = 0, 0
  if raw then
    local kept = cjson.decode(raw)
    if tonumber(kept[3]) > now then attempts, locked_until = tonumber(kept[1]), tonumber(kept[2]) end
  end
  recorded[i] = {attempts, locked_until}
  if locked_until > now then refused = true end
end
local result = {}
for i, key in ipairs(KEYS) do
  local attempts, locked_until = recorded[i][1], recorded[i][2]
  if not refused then
    local at = 1 + 4 * (i - 1)
    local max_attempts, first, cap, forget = tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3]), tonumber(ARGV[at + 4])
    attempts = attempts + 1
    if attempts >= max_attempts then
      locked_until = now + math.min(first * 2 ^ math.min(attempts - max_attempts, 16), cap)
    end
    local expires = math.max(now, locked_until) + forget
    local kept = '[' .. attempts .. ',' .. string.format('%.17g', locked_until) .. ',' .. string.format('%.17g', expires) .. ']'
    redis.call('SET', key, kept, 'EX', math.max(1, math.ceil(expires - now)))
  end
  result[#result + 1] = refused and 0 or 1
  result[#result + 1] = attempts
  result[#result + 1] = string.format('%.17g', locked_until)
end
return result
"""

# KEYS: attempts:<key>... (cleared first, then refunded); ARGV: how many are cleared
_SETTLE_ATTEMPTS = """
local cleared = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  if i <= cleared then
    redis.call('DEL', key)
  else
    local raw = redis.call('GET', key)
    if raw then
      local kept = cjson.decode(raw)
      if tonumber(kept[1]) > 0 then
        local encoded = '[' .. (tonumber(kept[1]) - 1) .. ',' .. string.format('%.17g', tonumber(kept[2])) .. ','
        redis.call('SET', key, encoded .. string.format('%.17g', tonumber(kept[3])) .. ']', 'KEEPTTL')
      end
    end
  end
end
return 0
"""

# KEYS: totp:<pro>; ARGV: step
_CLAIM_TOTP_STEP = """
local last = redis.call('GET', KEYS[1])
if last and tonumber(last) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', $TTL)
return 1
""".replace("$TTL", str(TOTP_TTL_S))


class RedisStore:
    """Store on a standalone Redis server, from a ``redis://`` (or ``rediss://``, ``unix://``) URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self._redis = redis.Redis.from_url(
                url,
                decode_responses=True,
                socket_timeout=SOCKET_TIMEOUT_S,
                socket_connect_timeout=SOCKET_TIMEOUT_S,
                # one retry on a fresh connection after a restart dropped a pooled one; never on a timeout
                retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
            )
        except ValueError as exc:
            raise ConfigurationError(f"store_url: {exc}") from None
        self._reserve = self._redis.register_script(_RESERVE)
        self._settle = self._redis.register_script(_SETTLE)
        self._record_factor = self._redis.register_script(_RECORD_FACTOR)
        self._rotate_session = self._redis.register_script(_ROTATE_SESSION)
        self._delete_session = self._redis.register_script(_DELETE_SESSION)
        self._revoke_sessions = self._redis.register_script(_REVOKE_SESSIONS)
        self._claim_totp_step = self._redis.register_script(_CLAIM_TOTP_STEP)
        self._charge_attempts = self._redis.register_script(_CHARGE_ATTEMPTS)
        self._settle_attempts = self._redis.register_script(_SETTLE_ATTEMPTS)

    def _fault(self, exc: redis.RedisError) -> StoreError:
        server = self._redis.connection_pool.connection_kwargs  # named without the URL: it may hold a password
        where = server.get("path") or f"{server.get('host')}:{server.get('port')}"
        return StoreError(f"redis store {where}: {type(exc).__name__}: {exc}")

    def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return script(keys, args)
        except redis.RedisError as exc:
            raise self._fault(exc) from None

    # sessions

    def create_session(self, session: Session) -> None:
        key, owned = f"{PREFIX}session:{session.id}", f"{PREFIX}sessions:{session.professional_id}"
        ttl = max(1, session.expires - session.created)
        fields: list[str | int] = ["professional_id", session.professional_id, "created", session.created]
        fields += ["expires", session.expires, "factors", json.dumps(session.factors)]
        try:
            with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, items=fields)
                pipe.expire(key, ttl)
                pipe.sadd(owned, session.id)
                pipe.expire(owned, ttl, nx=True)
                pipe.expire(owned, ttl, gt=True)
                pipe.execute()
        except redis.RedisError as exc:
            raise self._fault(exc) from None

    def get_session(self, session_id: str) -> Session | None:
        try:
            with self._redis.pipeline(transaction=False) as pipe:  # one round trip
                pipe.hgetall(f"{PREFIX}revoked:{session_id}")
                pipe.hgetall(f"{PREFIX}session:{session_id}")
                revoked, live = pipe.execute()
        except redis.RedisError as exc:
            raise self._fault(exc) from None
        fields: dict[str, str] = revoked or live  # a revoked record wins
        if not fields:
            return None
        factors = {} if revoked else json.loads(fields["factors"])
        return Session(session_id, fields["professional_id"], int(fields["created"]), int(fields["expires"]), factors, fields.get("reason"))

    def record_factor(self, session_id: str, factor: str, at: int) -> None:
        self._run(self._record_factor, [f"{PREFIX}session:{session_id}"], [factor, at])

    def rotate_session(self, session_id: str, new_id: str, factor: str, at: int) -> Session | None:
        keys = [f"{PREFIX}session:{session_id}", f"{PREFIX}session:{new_id}"]
        moved = self._run(self._rotate_session, keys, [PREFIX, session_id, new_id, factor, at])
        if not moved:
            return None
        professional_id, created, expires, factors = (str(v) for v in moved)
        return Session(new_id, professional_id, int(created), int(expires), json.loads(factors))

    def delete_session(self, session_id: str) -> None:
        self._run(self._delete_session, [f"{PREFIX}session:{session_id}"], [PREFIX])

    def revoke_sessions(self, professional_id: str, reason: str) -> int:
        return int(self._run(self._revoke_sessions, [f"{PREFIX}sessions:{professional_id}"], [PREFIX, reason]))

    def set_suspended(self, professional_id: str, suspended: bool) -> None:
        try:
            if suspended:
                self._redis.set(f"{PREFIX}suspended:{professional_id}", "1")
            else:
                self._redis.delete(f"{PREFIX}suspended:{professional_id}")
        except redis.RedisError as exc:
            raise self._fault(exc) from None

    def is_suspended(self, professional_id: str) -> bool:
        try:
            return bool(self._redis.exists(f"{PREFIX}suspended:{professional_id}"))
        except redis.RedisError as exc:
            raise self._fault(exc) from None

    def claim_totp_step(self, professional_id: str, step: int) -> bool:
        return bool(self._run(self._claim_totp_step, [f"{PREFIX}totp:{professional_id}"], [step]))

    # short-lived values

    def put_ephemeral(self, key: str, value: str, now: float, ttl_s: int) -> None:
        # the expiry travels with the value, so it is judged by the guard's clock like on SQLite
        try:
            self._redis.set(f"{PREFIX}ephemeral:{key}", json.dumps([now + ttl_s, value]), ex=max(1, ttl_s))
        except redis.RedisError as exc:
            raise self._fault(exc) from None

    def pop_ephemeral(self, key: str, now: float) -> str | None:
        try:
            raw: str | None = self._redis.getdel(f"{PREFIX}ephemeral:{key}")  # type: ignore[assignment]
        except redis.RedisError as exc:
            raise self._fault(exc) from None
        if raw is None:
            return None
        expires, value = json.loads(raw)
        return str(value) if float(expires) > now else None

    # attempts

    def charge_attempts(self, charges: Sequence[tuple[str, Backoff]], now: float) -> list[Attempt]:
        keys = [f"{PREFIX}attempts:{key}" for key, _ in charges]
        args: list[Any] = [repr(now)]
        for _, backoff in charges:
            args += [backoff.max_attempts, backoff.first_lock_s, backoff.max_lock_s, backoff.forget_after_s]
        result: list[Any] = self._run(self._charge_attempts, keys, args)
        return [Attempt(result[i] == 1, float(result[i + 2]), int(result[i + 1])) for i in range(0, len(result), 3)]

    def settle_attempts(self, cleared: Sequence[str], refunded: Sequence[str]) -> None:
        keys = [f"{PREFIX}attempts:{key}" for key in (*cleared, *refunded)]
        self._run(self._settle_attempts, keys, [len(cleared)])

    # signals

    def reserve_reads(self, request: ReadRequest, now: float) -> Reservation:
        hold_id = uuid.uuid4().hex if request.requested > 0 else None
        pid, today = request.professional_id, day_of(now)
        windows = count_windows(request)
        counted, holding = counted_scopes(request), hold_scopes(request)
        keys = _Keys()
        where = request.location
        spec = {
            "counts": [[keys.of(f"reads:{scope}"), f"({now - seconds!r}"] for scope, _, seconds in windows],
            "holds": [keys.of(f"holds:{scope}") for scope in counted],
            "holding": [1 if scope in holding else 0 for scope in counted],
            "member": f"{hold_id}:{request.requested}" if hold_id else "",
            "hold_cutoff": repr(now - RESERVATION_TTL_S),
            "seen": keys.of(f"seen:{pid}"),
            "sessions": keys.of(f"sessions:{pid}"),
            "session": keys.of(f"session:{request.session_id or ''}"),
            "suspended": keys.of(f"suspended:{pid}"),
            "daily": keys.of(f"daily:{pid}"),
            "peers": keys.of(f"peers:{request.peer_group}"),
            "places": keys.of(f"places:{pid}"),
            "session_id": request.session_id or "",
            "seen_now": _encode_seen(where, now) if where is not None and where.resolved and request.session_id else "",
            "places_asked": list(request.places),
            "place_cutoff": repr(now - PLACE_HISTORY_S),
            "now": repr(now),
        }
        result = json.loads(self._run(self._reserve, keys.names, [json.dumps(spec)]))
        counts: dict[str, dict[str, int]] = {}
        for (scope, window, _), count in zip(windows, _list(result["counts"]), strict=True):
            counts.setdefault(scope, {})[window] = int(count)
        held = dict(zip(counted, (int(n) for n in _list(result["held"])), strict=True))
        flat = _list(result["daily"])
        daily = {int(day): int(n) for day, n in zip(flat[::2], flat[1::2], strict=True)}
        peers = self._peer_days(request.peer_group, today, result["peers"]) if request.peer_group else NO_PEERS
        live = sorted((_decode_seen(raw) for raw in _list(result["live"])), key=lambda seen: seen.time, reverse=True)
        return Reservation(
            id=hold_id,
            request=request,
            previous=_decode_seen(result["previous"]) if result["previous"] else None,
            live_sessions=tuple(seen for seen in live if seen.time > now - LIVE_SESSION_S)[:MAX_LIVE_SESSIONS],
            usage=usage_of(request, counts, held, daily, peers, now),
            suspended=result["suspended"] == 1,
            places_seen=frozenset(_list(result["places_seen"])),
            places_known=int(result["places_known"]),
        )

    def _peer_days(self, peer_group: str, today: int, cached: str | bool) -> PeerDays:
        """The group's summary of the days before today; the first reservation of a day recomputes it (one more round trip)."""
        if isinstance(cached, str):
            day, percentile, professionals, days = json.loads(cached)
            if day == today:
                return PeerDays(today, percentile, professionals, days)
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                for day in range(today - HISTORY_DAYS, today):
                    pipe.hgetall(f"{PREFIX}peer_day:{peer_group}:{day}")
                found: list[dict[str, str]] = pipe.execute()
            summary = peer_days(today, ((pro, int(n)) for counts in found for pro, n in counts.items()))
            record = [today, summary.percentile, summary.professionals, summary.days]
            self._redis.set(f"{PREFIX}peers:{peer_group}", json.dumps(record), ex=2 * DAY_S)
        except redis.RedisError as exc:
            raise self._fault(exc) from None
        return summary

    def settle_reads(self, reservation: Reservation, patients: list[str], location: Location | None, now: float) -> None:
        request = reservation.request
        pid, today = request.professional_id, day_of(now)
        keys = _Keys()
        holding = hold_scopes(request)
        spec = {
            "reads": [[keys.of(f"reads:{scope}"), repr(now - retention_s(scope))] for scope in holding],
            "holds": [keys.of(f"holds:{scope}") for scope in holding],
            "member": _hold_member(reservation),
            "who": [[keys.of(f"reads:{scope}"), repr(now - retention_s(scope))] for scope in professional_scopes(request)],
            "professional": pid,
            "daily": keys.of(f"daily:{pid}"),
            "peer_day": keys.of(f"peer_day:{request.peer_group}:{today}") if request.peer_group else 0,
            "places": keys.of(f"places:{pid}"),
            "seen": keys.of(f"seen:{pid}"),
            "day_start": repr(float(today * DAY_S)),
            "today": today,
            "history_from": today - HISTORY_DAYS,
            "places_add": list(request.places),
            "place_cutoff": repr(now - PLACE_HISTORY_S),
            "seen_now": _encode_seen(location, now) if location is not None and location.resolved else "",
            "now": repr(now),
            "patients": sorted(set(patients)),
        }
        self._run(self._settle, keys.names, [json.dumps(spec)])

    def release_reads(self, reservation: Reservation) -> None:
        if reservation.id is None:
            return
        member = _hold_member(reservation)
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                for scope in hold_scopes(reservation.request):
                    pipe.zrem(f"{PREFIX}holds:{scope}", member)
                pipe.execute()
        except redis.RedisError as exc:
            raise self._fault(exc) from None

    def ping(self) -> None:
        try:
            self._redis.ping()
        except redis.RedisError as exc:
            raise self._fault(exc) from None

    def close(self) -> None:
        self._redis.close()


class _Keys:
    """The KEYS of one script call; the spec names each by its (1-based) index."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def of(self, name: str) -> int:
        self.names.append(PREFIX + name)
        return len(self.names)


def _list(value: Any) -> list[Any]:
    """A list from a script's JSON: cjson encodes an empty table as an object."""
    return value if isinstance(value, list) else []


def _hold_member(reservation: Reservation) -> str:
    return f"{reservation.id}:{reservation.request.requested}" if reservation.id else ""


def _encode_seen(location: Location, now: float) -> str:
    return json.dumps({"country": location.country, "city": location.city, "lat": location.lat, "lon": location.lon, "time": now})


def _decode_seen(raw: str) -> LastSeen:
    seen = json.loads(raw)
    resolved = seen["lat"] is not None and seen["lon"] is not None
    return LastSeen(Location(resolved, seen["country"], seen["city"], seen["lat"], seen["lon"]), float(seen["time"]))

"""The quota governor (issue 17 §4): every provider request is paced by token buckets kept in
Redis, so that every worker on every host shares one budget per account and per provider
project.

* **Google** counts every call, each call inside a batch request too, against 600 requests a
  minute per user and 10,000 a minute per project (the Calendar API's default quotas). A
  request takes one token per call from the user's bucket and from the project's (the OAuth
  client id), both at once or neither.
* **Microsoft Graph** allows 10,000 requests per 10 minutes and 4 concurrent requests per app
  and mailbox (``throttling-limits``; each request inside a JSON batch counts): a bucket per
  mailbox and a concurrency slot set per mailbox (``slot``), held for the request's duration.
* **CalDAV** servers publish no quota; their PUTs are bounded per server by the connector.

A bucket holds ``rate x CALSYNC_QUOTA_BURST_SECONDS`` tokens (at least one batch), so a burst
never exceeds a few seconds of the quota and a long first sync runs at the quota's pace: on
real Google 1,000 meetings cannot take less than about 100 s. A request that would wait up to
``CALSYNC_QUOTA_MAX_WAIT_SECONDS`` sleeps; a longer wait raises ``OverQuota`` and the engine
reschedules the link for when the budget is back (no failure, no back-off).

**Polls are not starved by bulk work.** Inside ``bulk()`` (the engine's writes of a large run,
such as a first sync) a take must leave ``CALSYNC_QUOTA_BULK_RESERVE`` of each bucket's
capacity in it, which only polls and small runs may use: a first sync still gets the whole
refill rate when nothing else runs, while other practices' polls always find tokens in the
project's bucket.

The buckets live in Redis (``CALSYNC_QUOTA_REDIS_URL``, else ``REDIS_URL``) and are updated by
one Lua script per take with Redis' own clock, so hosts with skewed clocks agree. Without Redis
(the embedded demo) the same arithmetic runs in the process (``LocalGovernor``).

**Metrics** (issue 17 §6; README "Metrics"): ``Governor.levels()`` gives the buckets that may be
below full, which ``calsync/metrics.py`` reads at each scrape (how full the Google project's
bucket is, how many accounts' buckets are empty); ``calsync_quota_waits_total`` and
``calsync_quota_wait_seconds`` count the requests held back, here when ``Pacer.pace`` sleeps and
in ``calsync.scheduler.after_run`` when a run over its budget is rescheduled.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import Counter, Histogram

from connectors.errors import OverQuota

QUOTA_WAITS = Counter(
    "calsync_quota_waits",
    "Provider requests the quota governor held back, by provider: slept through a short wait "
    "(Pacer.pace), or ended the run and rescheduled the link for when the budget is back.",
    ["provider"],
)
QUOTA_WAIT_SECONDS = Histogram(
    "calsync_quota_wait_seconds",
    "How long the quota governor held a request back: the sleep, or the time until the "
    "rescheduled run.",
    ["provider"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60, 120, 300, 600),
)


def observe_wait(provider: str, seconds: float) -> None:
    """One request held back for ``seconds`` (slept, or until its rescheduled run)."""
    QUOTA_WAITS.labels(provider=provider or "unknown").inc()
    QUOTA_WAIT_SECONDS.labels(provider=provider or "unknown").observe(max(0.0, seconds))


_BULK: ContextVar[bool] = ContextVar("calsync_quota_bulk", default=False)


@contextlib.contextmanager
def bulk() -> Iterator[None]:
    """Requests made inside are bulk work: they leave the reserve to polls."""
    token = _BULK.set(True)
    try:
        yield
    finally:
        _BULK.reset(token)


@dataclass(frozen=True)
class Bucket:
    """A token bucket: ``rate`` tokens a second, up to ``capacity``."""

    key: str
    rate: float
    capacity: float


@dataclass(frozen=True)
class Level:
    """A bucket's tokens now, for the metrics."""

    key: str
    tokens: float
    capacity: float


class Governor(Protocol):
    def take(self, buckets: Sequence[Bucket], cost: float, *, reserve: float) -> float:
        """Take ``cost`` tokens from every bucket, or from none; leave ``reserve`` (a share of
        each capacity) in each. Returns 0 when taken, else the seconds until it could be."""

    def acquire(self, key: str, limit: int, ttl: float) -> str | None:
        """A slot of at most ``limit`` concurrent ones under ``key`` (for ``ttl`` seconds at
        most, so a killed holder's slot comes back); None when all are taken."""

    def release(self, key: str, slot: str) -> None: ...

    def level(self, bucket: Bucket) -> float:
        """The tokens in ``bucket`` now (for metrics and tests)."""

    def levels(self) -> list[Level]:
        """Every bucket taken from within its refill time (``capacity / rate``), with its tokens
        now; any other bucket is full."""


# KEYS: the buckets, then the index of recent buckets (``RedisGovernor.levels``). A bucket's hash
# keeps its rate and capacity beside its level, so that a scrape can compute its level now.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local reserve = tonumber(ARGV[2])
local n = #KEYS - 1
local index = KEYS[n + 1]
local levels = {}
local wait = 0
for i = 1, n do
  local key = KEYS[i]
  local rate = tonumber(ARGV[1 + i * 2]) / 1000
  local cap = tonumber(ARGV[2 + i * 2])
  local state = redis.call('HMGET', key, 'level', 'ts')
  local level = tonumber(state[1]) or cap
  local ts = tonumber(state[2]) or now
  level = math.min(cap, level + math.max(0, now - ts) * rate)
  levels[i] = level
  local need = math.min(cap, cost + reserve * cap)
  if level < need then
    wait = math.max(wait, (need - level) / rate)
  end
end
if wait > 0 then
  return tostring(wait / 1000)
end
local longest = 0
for i = 1, n do
  local key = KEYS[i]
  local rate = tonumber(ARGV[1 + i * 2]) / 1000
  local cap = tonumber(ARGV[2 + i * 2])
  local ttl = math.ceil(cap / rate) + 1000
  redis.call('HSET', key, 'level', tostring(levels[i] - cost), 'ts', tostring(now),
             'rate', ARGV[1 + i * 2], 'cap', ARGV[2 + i * 2])
  redis.call('PEXPIRE', key, ttl)
  -- Listed until the bucket is full again (when its key expires too).
  redis.call('ZADD', index, now + ttl, key)
  longest = math.max(longest, ttl)
end
redis.call('ZREMRANGEBYSCORE', index, '-inf', now)
if redis.call('PTTL', index) < longest then
  redis.call('PEXPIRE', index, longest)
end
return '0'
"""

_LEVEL = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1]) / 1000
local cap = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'level', 'ts')
local level = tonumber(state[1]) or cap
local ts = tonumber(state[2]) or now
return tostring(math.min(cap, level + math.max(0, now - ts) * rate))
"""

_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
  return 1
end
return 0
"""


class RedisGovernor:
    """The governor every worker shares (module docstring)."""

    def __init__(self, url: str, *, prefix: str = "calsync:quota:") -> None:
        import redis

        self.redis = redis.Redis.from_url(url)
        self.prefix = prefix
        # The buckets taken from within their refill time, scored by when they are full again:
        # what a metrics scrape reads (``levels``). Not a SCAN of ``prefix*``: SCAN walks the
        # whole keyspace of this Redis (the broker's and the cache's keys too), however small
        # its COUNT, so a scrape would cost more as the installation grows, and a scan cut short
        # to bound it would undercount the empty buckets. The index costs one ZADD per take and
        # holds only the buckets that can be below full: at 30,000 links polled every 3 minutes
        # and a refill time of 10 s (``CALSYNC_QUOTA_BURST_SECONDS``) some 2,000 entries. Every
        # bucket not in it is full, so the counts are exact. The take trims it; it expires when
        # nothing is taken.
        self.index = prefix + "index:recent"
        self._take = self.redis.register_script(_TAKE)
        self._level = self.redis.register_script(_LEVEL)
        self._acquire = self.redis.register_script(_ACQUIRE)

    def take(self, buckets: Sequence[Bucket], cost: float, *, reserve: float) -> float:
        args: list[Any] = [cost, reserve]
        for bucket in buckets:
            args += [bucket.rate, bucket.capacity]
        keys = [self.prefix + b.key for b in buckets] + [self.index]
        return float(self._take(keys=keys, args=args))

    def level(self, bucket: Bucket) -> float:
        return float(
            self._level(keys=[self.prefix + bucket.key], args=[bucket.rate, bucket.capacity])
        )

    def levels(self) -> list[Level]:
        # Two round trips, whatever the number of buckets: the clock and the index, then the
        # listed buckets' hashes.
        pipe = self.redis.pipeline(transaction=False)
        pipe.time()
        pipe.zrange(self.index, 0, -1, withscores=True)
        (seconds, micros), listed = pipe.execute()
        now = seconds * 1000 + micros // 1000
        keys = [key for key, full_at in listed if full_at > now]
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, "level", "ts", "rate", "cap")
        found: list[Level] = []
        for key, (level, ts, rate, cap) in zip(keys, pipe.execute(), strict=True):
            if level is None or rate is None or cap is None:
                continue  # expired meanwhile: full
            capacity = float(cap)
            tokens = float(level) + max(0.0, now - float(ts)) * float(rate) / 1000
            found.append(Level(key.decode()[len(self.prefix) :], min(capacity, tokens), capacity))
        return found

    def acquire(self, key: str, limit: int, ttl: float) -> str | None:
        slot = uuid.uuid4().hex
        taken = self._acquire(keys=[self.prefix + key], args=[limit, int(ttl * 1000), slot])
        return slot if int(taken) else None

    def release(self, key: str, slot: str) -> None:
        self.redis.zrem(self.prefix + key, slot)


class LocalGovernor:
    """The same buckets and slots in this process only (no Redis: the embedded demo)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float, Bucket]] = {}  # key -> (level, at, bucket)
        self._slots: dict[str, dict[str, float]] = {}  # key -> slot -> expiry

    def _now_level(self, bucket: Bucket, now: float) -> float:
        level, at, _ = self._buckets.get(bucket.key, (bucket.capacity, now, bucket))
        return min(bucket.capacity, level + max(0.0, now - at) * bucket.rate)

    def take(self, buckets: Sequence[Bucket], cost: float, *, reserve: float) -> float:
        with self._lock:
            now = time.monotonic()
            levels = [self._now_level(b, now) for b in buckets]
            wait = max(
                (
                    (min(b.capacity, cost + reserve * b.capacity) - level) / b.rate
                    for b, level in zip(buckets, levels, strict=True)
                ),
                default=0.0,
            )
            if wait > 0:
                return wait
            for bucket, level in zip(buckets, levels, strict=True):
                self._buckets[bucket.key] = (level - cost, now, bucket)
            return 0.0

    def level(self, bucket: Bucket) -> float:
        with self._lock:
            return self._now_level(bucket, time.monotonic())

    def levels(self) -> list[Level]:
        with self._lock:
            now = time.monotonic()
            found = []
            for key, (_, _, bucket) in list(self._buckets.items()):
                tokens = self._now_level(bucket, now)
                if tokens >= bucket.capacity:
                    del self._buckets[key]  # full again: as good as never taken from
                else:
                    found.append(Level(key, tokens, bucket.capacity))
            return found

    def acquire(self, key: str, limit: int, ttl: float) -> str | None:
        with self._lock:
            now = time.monotonic()
            held = {s: e for s, e in self._slots.get(key, {}).items() if e > now}
            self._slots[key] = held
            if len(held) >= limit:
                return None
            slot = uuid.uuid4().hex
            held[slot] = now + ttl
            return slot

    def release(self, key: str, slot: str) -> None:
        with self._lock:
            self._slots.get(key, {}).pop(slot, None)


@dataclass(frozen=True)
class Pacer:
    """What one connector asks of the governor: its buckets and, for Graph, its mailbox's
    concurrency slots."""

    governor: Governor
    buckets: tuple[Bucket, ...]
    max_wait: float
    reserve: float
    slots_key: str = ""
    slots: int = 0
    slot_ttl: float = 60.0
    what: str = "The provider's quota"
    # The metrics' ``provider`` label (``CalendarLink.provider``).
    provider: str = ""

    def pace(self, cost: float = 1) -> None:
        """Take ``cost`` tokens (a batch request: one per call it holds), sleeping while the
        wait is short; ``OverQuota`` when it is longer than ``max_wait``."""
        if not self.buckets or cost <= 0:
            return
        # A request never needs more than a full bucket (a batch larger than the burst).
        cost = min(cost, min(b.capacity for b in self.buckets))
        reserve = self.reserve if _BULK.get() else 0.0
        waited = 0.0
        while True:
            wait = self.governor.take(self.buckets, cost, reserve=reserve)
            if wait <= 0:
                if waited:
                    observe_wait(self.provider, waited)
                return
            if waited + wait > self.max_wait:
                # Not counted here: the engine ends the run as deferred and the scheduler
                # counts the request when it reschedules the link (``after_run``).
                raise OverQuota(f"{self.what} is spent for now: continuing in {wait:.0f} s.", wait)
            time.sleep(wait)
            waited += wait

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the mailbox's concurrent request slots for the request's duration."""
        if not self.slots:
            yield
            return
        waited = 0.0
        while True:
            slot = self.governor.acquire(self.slots_key, self.slots, self.slot_ttl)
            if slot is not None:
                break
            if waited >= self.max_wait:
                raise OverQuota(f"{self.what}: too many requests at once; continuing soon.", 1.0)
            time.sleep(0.02)
            waited += 0.02
        try:
            yield
        finally:
            self.governor.release(self.slots_key, slot)


_governor: Governor | None = None
_governor_lock = threading.Lock()


def governor() -> Governor:
    """The process's governor: Redis when configured, else in-process."""
    global _governor
    from django.conf import settings

    with _governor_lock:
        if _governor is None:
            url = settings.CALSYNC_QUOTA_REDIS_URL or getattr(settings, "REDIS_URL", "")
            _governor = RedisGovernor(url) if url else LocalGovernor()
        return _governor


def _bucket(key: str, per_second: float, *, least: float) -> Bucket:
    from django.conf import settings

    capacity = max(per_second * settings.CALSYNC_QUOTA_BURST_SECONDS, least)
    return Bucket(key, per_second, capacity)


def _pacer(buckets: tuple[Bucket, ...], **extra: Any) -> Pacer:
    from django.conf import settings

    return Pacer(
        governor(),
        buckets,
        max_wait=settings.CALSYNC_QUOTA_MAX_WAIT_SECONDS,
        reserve=settings.CALSYNC_QUOTA_BULK_RESERVE,
        **extra,
    )


# Where the buckets of one account are (``Level.key``): per provider, for the metrics.
GOOGLE_USER = "google:user:"
GRAPH_MAILBOX = "graph:mailbox:"
ACCOUNT_BUCKETS = {"google": GOOGLE_USER, "microsoft": GRAPH_MAILBOX}


def google_pacer(account: str, *, batch: int) -> Pacer:
    """Google's per-user and per-project buckets (the project is the OAuth client)."""
    from django.conf import settings

    return _pacer(
        (
            _bucket(
                f"{GOOGLE_USER}{account.lower()}",
                settings.CALSYNC_GOOGLE_USER_QUOTA_PER_MINUTE / 60,
                least=batch,
            ),
            _bucket(
                google_project_key(),
                settings.CALSYNC_GOOGLE_PROJECT_QUOTA_PER_MINUTE / 60,
                least=batch,
            ),
        ),
        what="Google's request quota",
        provider="google",
    )


def google_project_key() -> str:
    """The key of this installation's Google project bucket (the project is the OAuth client)."""
    from django.conf import settings

    return f"google:project:{settings.CALSYNC_GOOGLE_CLIENT_ID or 'default'}"


def graph_pacer(mailbox: str, *, batch: int) -> Pacer:
    """Graph's per-mailbox bucket and its concurrency slots."""
    from django.conf import settings

    app = settings.CALSYNC_MICROSOFT_CLIENT_ID or "default"
    key = f"{GRAPH_MAILBOX}{app}:{mailbox.lower()}"
    return _pacer(
        (_bucket(key, settings.CALSYNC_GRAPH_MAILBOX_QUOTA_PER_10_MINUTES / 600, least=batch),),
        slots_key=key + ":slots",
        slots=settings.CALSYNC_GRAPH_MAILBOX_CONCURRENCY,
        slot_ttl=float(settings.CALSYNC_HTTP_TIMEOUT) + 5,
        what="Microsoft's request quota for this mailbox",
        provider="microsoft",
    )

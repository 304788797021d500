"""The quota governor (issue 17 §4) on the real Redis: token buckets per account and per
provider project shared by every worker, bulk work that leaves a reserve to polls, Graph's
concurrent-request slots, and pacing that sleeps through a short wait and gives up (``OverQuota``)
on a long one."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest
from django.conf import settings

from connectors.errors import OverQuota, RateLimited
from connectors.quota import Bucket, LocalGovernor, Pacer, RedisGovernor, bulk


@pytest.fixture
def redis_governor() -> Iterator[RedisGovernor]:
    governor = RedisGovernor(settings.REDIS_URL, prefix=f"test-quota:{uuid.uuid4().hex}:")
    yield governor
    for key in governor.redis.scan_iter(governor.prefix + "*"):
        governor.redis.delete(key)


@pytest.fixture(params=["redis", "local"])
def governor(request: pytest.FixtureRequest) -> RedisGovernor | LocalGovernor:
    if request.param == "redis":
        return request.getfixturevalue("redis_governor")  # type: ignore[no-any-return]
    return LocalGovernor()


def takes(governor: RedisGovernor | LocalGovernor, buckets: list[Bucket], n: int) -> int:
    """How many of ``n`` one-token takes succeed at once."""
    return sum(governor.take(buckets, 1, reserve=0) == 0 for _ in range(n))


def test_a_bucket_gives_its_capacity_then_its_rate(
    governor: RedisGovernor | LocalGovernor,
) -> None:
    user = Bucket("google:user:a@example.com", rate=5.0, capacity=10.0)
    assert takes(governor, [user], 15) == 10
    wait = governor.take([user], 1, reserve=0)
    assert 0.05 < wait <= 0.25  # a fifth of a second per token
    time.sleep(0.45)
    assert takes(governor, [user], 5) == 2  # about two tokens came back


def test_a_take_from_several_buckets_is_all_or_nothing(
    governor: RedisGovernor | LocalGovernor,
) -> None:
    """Google counts a call against the user's and the project's quota: when the project is
    spent, the user's bucket is not charged for a call that was not made."""
    user = Bucket("google:user:b@example.com", rate=0.001, capacity=10.0)
    project = Bucket("google:project:p1", rate=0.001, capacity=3.0)
    assert takes(governor, [user, project], 5) == 3
    assert governor.level(project) < 1
    assert 6.9 < governor.level(user) < 7.1  # only the three calls that were made
    other = Bucket("google:user:c@example.com", rate=0.001, capacity=10.0)
    assert takes(governor, [other, project], 1) == 0  # the project is the limit for everyone


def test_a_batch_costs_one_token_per_call(governor: RedisGovernor | LocalGovernor) -> None:
    user = Bucket("google:user:d@example.com", rate=0.001, capacity=100.0)
    assert governor.take([user], 50, reserve=0) == 0
    assert governor.take([user], 50, reserve=0) == 0
    assert governor.take([user], 1, reserve=0) > 0


def test_bulk_work_leaves_the_reserve_to_polls(governor: RedisGovernor | LocalGovernor) -> None:
    project = Bucket("google:project:p2", rate=0.001, capacity=100.0)
    first_sync = sum(governor.take([project], 10, reserve=0.25) == 0 for _ in range(20))
    assert first_sync == 7  # 70 taken; the next 10 would leave less than 25
    polls = takes(governor, [project], 40)
    assert polls == 30  # the polls get the reserve


def test_the_buckets_are_shared_by_every_process(redis_governor: RedisGovernor) -> None:
    """Another worker process (its own Redis connection) spends the same bucket."""
    script = (
        "import sys; from connectors.quota import RedisGovernor, Bucket; "
        "g = RedisGovernor(sys.argv[1], prefix=sys.argv[2]); "
        "b = Bucket('google:user:e@example.com', 0.001, 10.0); "
        "print(sum(g.take([b], 1, reserve=0) == 0 for _ in range(6)))"
    )
    other = subprocess.run(
        [sys.executable, "-c", script, settings.REDIS_URL, redis_governor.prefix],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert other.stdout.strip() == "6"
    here = Bucket("google:user:e@example.com", 0.001, 10.0)
    assert takes(redis_governor, [here], 6) == 4


def test_concurrency_slots_hold_four_and_come_back(
    governor: RedisGovernor | LocalGovernor,
) -> None:
    held = [governor.acquire("graph:mailbox:m@example.com:slots", 4, ttl=30) for _ in range(5)]
    assert [slot is not None for slot in held] == [True] * 4 + [False]
    first = held[0]
    assert first is not None
    governor.release("graph:mailbox:m@example.com:slots", first)
    assert governor.acquire("graph:mailbox:m@example.com:slots", 4, ttl=30) is not None
    # A holder that died keeps its slot only until the slot's time runs out.
    assert governor.acquire("graph:mailbox:n@example.com:slots", 1, ttl=0.2) is not None
    assert governor.acquire("graph:mailbox:n@example.com:slots", 1, ttl=0.2) is None
    time.sleep(0.3)
    assert governor.acquire("graph:mailbox:n@example.com:slots", 1, ttl=0.2) is not None


def test_pacing_sleeps_through_a_short_wait_and_gives_up_on_a_long_one(
    governor: RedisGovernor | LocalGovernor,
) -> None:
    bucket = Bucket("google:user:f@example.com", rate=20.0, capacity=5.0)
    pacer = Pacer(governor, (bucket,), max_wait=1.0, reserve=0.25)
    started = time.monotonic()
    for _ in range(10):  # five at once, five more at 20 a second
        pacer.pace()
    assert 0.15 < time.monotonic() - started < 1.0
    slow = Pacer(
        governor, (Bucket("google:user:g@example.com", 0.1, 5.0),), max_wait=0.5, reserve=0
    )
    slow.pace(5)
    with pytest.raises(OverQuota) as raised:
        slow.pace()
    assert isinstance(raised.value, RateLimited) and (raised.value.retry_after or 0) > 5
    # Inside bulk() the reserve applies: a full bucket of 5 gives bulk work 3 (leaving 1.25).
    fresh = Pacer(governor, (Bucket("google:user:h@example.com", 0.001, 5.0),), 0.1, 0.25)
    with bulk():
        fresh.pace(3)
        with pytest.raises(OverQuota):
            fresh.pace(1)
    fresh.pace(1)  # a poll still gets through


def test_levels_are_the_buckets_below_full_until_they_refill(
    governor: RedisGovernor | LocalGovernor,
) -> None:
    """What the metrics read: every bucket taken from within its refill time, with its tokens
    now; a bucket full again drops out (Redis: a second after, with its key)."""
    fast = Bucket("google:user:i@example.com", rate=5.0, capacity=1.0)  # full in 0.2 s
    slow = Bucket("google:project:p3", rate=0.001, capacity=10.0)
    assert governor.levels() == []
    assert governor.take([fast, slow], 1, reserve=0) == 0
    assert governor.take([fast, slow], 1, reserve=0) > 0  # a refused take changes nothing
    found = {level.key: level for level in governor.levels()}
    assert set(found) == {fast.key, slow.key}
    assert found[slow.key].capacity == 10.0 and 8.9 < found[slow.key].tokens < 9.1
    assert found[fast.key].capacity == 1.0 and found[fast.key].tokens < 0.5
    time.sleep(1.3)
    assert [level.key for level in governor.levels()] == [slow.key]

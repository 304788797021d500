"""The fakes' network latency (issue 17 §1): a fixed delay plus jitter per request, a slow-tail
fault, and concurrent requests waiting side by side (as on a real network), not one after another
behind the fake's lock. Driven through requests and the real Graph/Google client paths' HTTP."""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.fakes.google import GoogleFake
from tests.fakes.microsoft import MicrosoftFake
from tests.fakes.server import Latency


def _elapsed(url: str) -> float:
    began = time.monotonic()
    requests.get(url, timeout=10)
    return time.monotonic() - began


def test_each_answer_takes_the_fixed_delay_plus_at_most_the_jitter() -> None:
    with GoogleFake() as fake:
        url = fake.url + "/calendar/v3/users/me/calendarList"
        fake.set_latency(80, 40, seed=1)
        times = [_elapsed(url) for _ in range(8)]
        # The wall time never beats the delay; its upper bound is loose (a loaded machine).
        assert all(0.08 <= t < 0.08 + 0.04 + 0.5 for t in times), times
        assert all(0.08 <= d < 0.12 for d in fake.latency.delays)
        # Jitter: not all the same.
        assert len({round(d, 4) for d in fake.latency.delays}) > 1
        fake.set_latency(0)
        assert _elapsed(url) < 0.05


def test_concurrent_requests_wait_side_by_side() -> None:
    """20 requests at 200 ms each, sent at once, take about 200 ms together: the delay is the
    network's, not the fake's lock (a worker pool's concurrency is what the bench measures)."""
    with MicrosoftFake() as fake:
        fake.set_latency(200)
        url = fake.graph_endpoint + "/me/events"
        began = time.monotonic()
        with ThreadPoolExecutor(20) as pool:
            list(pool.map(lambda _: requests.get(url, timeout=10), range(20)))
        together = time.monotonic() - began
    # One after the other they would take 20 x 200 ms = 4 s; side by side about 200 ms. Half of
    # the serial time is the bound, so a loaded machine's slow start is no failure.
    assert 0.2 <= together < 0.2 * 20 / 2, together


def test_the_slow_tail_fault_hits_its_share_of_requests() -> None:
    latency = Latency.ms(10, 5, tail_share=0.1, tail=2000)
    rng = random.Random(7)
    draws = [latency.draw(rng) for _ in range(5000)]
    slow = [d for d in draws if d == 2.0]
    assert 0.08 < len(slow) / len(draws) < 0.12
    assert all(0.010 <= d < 0.015 for d in draws if d != 2.0)
    with GoogleFake() as fake:
        fake.set_latency(1, tail_share=1.0, tail_ms=300)
        assert _elapsed(fake.url + "/calendar/v3/users/me/calendarList") >= 0.3


def test_a_latency_that_makes_no_sense_is_refused() -> None:
    with pytest.raises(ValueError):
        Latency.ms(-1)
    with pytest.raises(ValueError):
        Latency.ms(10, tail_share=1.5)

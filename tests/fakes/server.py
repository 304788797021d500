"""Shared plumbing for the provider fakes (Google now, Microsoft Graph later).

A :class:`FakeServer` is a real HTTP server on ``127.0.0.1`` and a free port, run in a daemon thread
(the standard library's ``ThreadingHTTPServer``; no extra dependency). Subclasses register routes
(method + regular expression on the raw, still percent-encoded path) and return :class:`Response`
objects. The plumbing adds what every provider fake needs (ARCHITECTURE.md "Tests and their real
parts"; PROTOCOLS.md §1.10 items 9-10 and §2.9):

* a request log (:attr:`FakeServer.requests`) for assertions;
* fault injection (:attr:`FakeServer.faults`): answer the next N matching requests with a status,
  headers and a body in the provider's exact error shape;
* a controllable clock (:attr:`FakeServer.now`) so tests can skew the provider's time;
* network latency (:attr:`FakeServer.latency`, :class:`Latency`): a fixed delay plus jitter per
  request and a slow-tail fault (a share of requests that take much longer), so benches and
  tests see what 100-300 ms providers do to a worker instead of a 1 ms loopback (issue 17);
* a record of handler crashes (:attr:`FakeServer.crashes`); the fixtures fail a test that crashed
  the fake, because a crash would otherwise look like a provider 500;
* a :class:`Courier` for what a provider sends *to* an application (push notifications, Graph's
  validation requests): queued in :attr:`Courier.outbox` for a test to deliver by hand, or
  delivered from the courier's own thread once :meth:`Courier.start` is called, with the
  provider's retry policy and fault switches (a dropped, duplicated or late notification).
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
import re
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

JsonBody = Mapping[str, Any] | list[Any]


class Headers:
    """Case-insensitive, read-only view of request headers (last value wins)."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = list(items)
        self._map = {k.lower(): v for k, v in items}

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._map.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._map

    def __getitem__(self, name: str) -> str:
        return self._map[name.lower()]

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


@dataclass
class Request:
    """One request as the fake saw it. ``query`` keeps repeated parameters (PROTOCOLS.md §1.1)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Headers
    body: bytes
    time: datetime

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        return list(self.query.get(name, []))

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class HttpProblem(Exception):
    """Raise from a handler to answer with ``response`` at once."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def json_response(
    status: int, payload: JsonBody, headers: Mapping[str, str] | None = None
) -> Response:
    body = json.dumps(payload, indent=1).encode("utf-8")
    all_headers = {"Content-Type": "application/json; charset=UTF-8"}
    all_headers.update(headers or {})
    return Response(status, body, all_headers)


def html_response(status: int, html: str) -> Response:
    return Response(status, html.encode("utf-8"), {"Content-Type": "text/html; charset=utf-8"})


def redirect(location: str) -> Response:
    return Response(302, b"", {"Location": location})


def empty(status: int = 204) -> Response:
    return Response(status)


Handler = Callable[[Request, "re.Match[str]"], Response]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


@dataclass
class Fault:
    """A switch: the next ``times`` requests matching method/path/query get this answer.

    ``path`` is a regular expression matched in full against the raw path (no query string);
    ``query`` maps parameter names to regular expressions that must match the parameter's value.
    ``times=None`` means until removed. ``hits`` counts the requests it answered.
    """

    status: int
    method: str | None = None
    path: str | None = None
    query: Mapping[str, str] | None = None
    headers: Mapping[str, str] | None = None
    body: JsonBody | str | bytes | None = None
    times: int | None = 1
    hits: int = 0

    def matches(self, request: Request) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method is not None and self.method.upper() != request.method:
            return False
        if self.path is not None and not re.fullmatch(self.path, request.path):
            return False
        for name, pattern in (self.query or {}).items():
            value = request.arg(name)
            if value is None or not re.fullmatch(pattern, value):
                return False
        return True

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


class Faults:
    """The fault switches of one fake. ``default_body(status)`` gives the provider's error shape."""

    def __init__(self, default_body: Callable[[int], JsonBody]) -> None:
        self._default_body = default_body
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(
        self,
        *,
        status: int,
        method: str | None = None,
        path: str | None = None,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: JsonBody | str | bytes | None = None,
        times: int | None = 1,
    ) -> Fault:
        fault = Fault(status, method, path, query, headers, body, times)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def __iter__(self) -> Iterator[Fault]:
        with self._lock:
            return iter(list(self._faults))

    def take(self, request: Request) -> Response | None:
        """The injected answer for ``request``, if a switch matches (first added wins)."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(request):
                    fault.hits += 1
                    return self._render(fault)
        return None

    def _render(self, fault: Fault) -> Response:
        headers = dict(fault.headers or {})
        if fault.body is None:
            return json_response(fault.status, self._default_body(fault.status), headers)
        if isinstance(fault.body, bytes):
            return Response(fault.status, fault.body, headers)
        if isinstance(fault.body, str):
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            return Response(fault.status, fault.body.encode("utf-8"), headers)
        return json_response(fault.status, fault.body, headers)


@dataclass(frozen=True)
class Latency:
    """Time the network and the provider take per request, in seconds: ``fixed`` plus a uniform
    draw in ``[0, jitter)``; the slow tail, a fault: a ``tail_share`` of requests (drawn at
    random) take ``tail`` instead, as a provider's p99 does on a bad minute. Spent after the
    request was handled and before the answer is sent, outside the fake's lock, so concurrent
    requests wait side by side as they do on a real network."""

    fixed: float = 0.0
    jitter: float = 0.0
    tail_share: float = 0.0
    tail: float = 0.0

    def __post_init__(self) -> None:
        if min(self.fixed, self.jitter, self.tail_share, self.tail) < 0 or self.tail_share > 1:
            raise ValueError(f"invalid latency {self}")

    @classmethod
    def ms(
        cls, fixed: float, jitter: float = 0.0, *, tail_share: float = 0.0, tail: float = 0.0
    ) -> Latency:
        return cls(fixed / 1000, jitter / 1000, tail_share, tail / 1000)

    def draw(self, rng: random.Random) -> float:
        if self.tail_share and rng.random() < self.tail_share:
            return self.tail
        return self.fixed + (rng.random() * self.jitter if self.jitter else 0.0)


class LatencyDial:
    """A fake's latency setting and its random draws (one generator per fake, seeded for
    repeatable runs). ``delays`` keeps the recent draws for a test or a bench to check."""

    def __init__(self, seed: int | None = None) -> None:
        self.setting = Latency()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.delays: list[float] = []

    def set(self, latency: Latency, *, seed: int | None = None) -> None:
        with self._lock:
            self.setting = latency
            if seed is not None:
                self._rng.seed(seed)
            self.delays.clear()

    def wait(self) -> float:
        latency = self.setting
        if latency == Latency():
            return 0.0
        with self._lock:
            delay = latency.draw(self._rng)
            if len(self.delays) < 100_000:
                self.delays.append(delay)
        time.sleep(delay)
        return delay


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        fake = self.server.fake
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=Headers(list(self.headers.items())),
            body=body,
            time=fake.now,
        )
        response = fake.handle(request)
        fake.latency.wait()
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        # One request per connection: no idle keep-alive threads to outlive stop().
        self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        return  # the request log replaces stderr noise


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeServer


class FakeServer:
    """A provider fake: threaded HTTP server on 127.0.0.1, routes, request log, faults, clock."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.routes: list[Route] = []
        self.requests: list[Request] = []
        self.crashes: list[str] = []
        self.faults = Faults(self.error_body)
        # Network time per request (none by default: tests stay fast); ``set_latency``.
        self.latency = LatencyDial()
        self.lock = threading.RLock()  # one request at a time mutates provider state
        self._frozen_now: datetime | None = None
        self._skew = timedelta(0)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # What the provider sends to applications (push notifications), when it sends any.
        self.courier: Courier | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        server = _Server((self.host, 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"{type(self).__name__}-{self.port}",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self.courier is not None:
            self.courier.stop()
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:53211``."""
        return f"http://{self.host}:{self.port}"

    # -- clock -------------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The provider's idea of the current time (aware, UTC).

        Assign a datetime to freeze it there, ``None`` to return to real time; :meth:`advance` moves
        it forward (frozen or not), so tests can expire tokens or skew the provider's clock.
        """
        if self._frozen_now is not None:
            return self._frozen_now
        return datetime.now(UTC) + self._skew

    @now.setter
    def now(self, value: datetime | None) -> None:
        if value is not None and value.tzinfo is None:
            raise ValueError("fake.now must be timezone-aware")
        self._frozen_now = value.astimezone(UTC) if value is not None else None
        if value is None:
            self._skew = timedelta(0)

    def advance(self, delta: timedelta | float) -> datetime:
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if self._frozen_now is not None:
            self._frozen_now += step
        else:
            self._skew += step
        return self.now

    # -- network -----------------------------------------------------------------------------------

    def set_latency(
        self,
        fixed_ms: float,
        jitter_ms: float = 0.0,
        *,
        tail_share: float = 0.0,
        tail_ms: float = 0.0,
        seed: int | None = None,
    ) -> Latency:
        """Every answer from now on takes ``fixed_ms`` plus up to ``jitter_ms``; a
        ``tail_share`` of them ``tail_ms`` instead (the slow-tail fault). ``set_latency(0)``
        turns it off."""
        latency = Latency.ms(fixed_ms, jitter_ms, tail_share=tail_share, tail=tail_ms)
        self.latency.set(latency, seed=seed)
        return latency

    # -- routing -----------------------------------------------------------------------------------

    def add_route(self, method: str, pattern: str, handler: Handler) -> None:
        """Register ``handler`` for ``method`` and a regex matched in full against the raw path."""
        self.routes.append(Route(method.upper(), re.compile(pattern), handler))

    def rewrite(self, request: Request) -> Request:
        """Hook: adjust a request before faults and routing (e.g. method override headers)."""
        return request

    def error_body(self, status: int) -> JsonBody:
        """Hook: the provider's error JSON for ``status`` (used by faults and fallbacks)."""
        return {"error": {"code": status, "message": "error"}}

    def not_found(self, request: Request) -> Response:
        return json_response(404, self.error_body(404))

    def method_not_allowed(self, request: Request) -> Response:
        return json_response(405, self.error_body(405))

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.requests.append(request)
            return self.route(request)

    def route(self, request: Request) -> Response:
        """Answer ``request`` (faults first, then the routes) without logging it: ``handle``
        for one HTTP request, and for each call inside a batch request (Google's
        ``multipart/mixed`` batch, Graph's JSON ``$batch``), which is one request on the wire."""
        with self.lock:
            try:
                request = self.rewrite(request)
                injected = self.faults.take(request)
                if injected is not None:
                    return injected
                path_matched = False
                for route in self.routes:
                    match = route.pattern.fullmatch(request.path)
                    if match is None:
                        continue
                    path_matched = True
                    if route.method == request.method:
                        return route.handler(request, match)
                if path_matched:
                    return self.method_not_allowed(request)
                return self.not_found(request)
            except HttpProblem as problem:
                return problem.response
            except Exception:
                self.crashes.append(traceback.format_exc())
                return json_response(500, self.error_body(500))

    # -- request log helpers -----------------------------------------------------------------------

    def requests_to(self, method: str | None = None, path: str | None = None) -> list[Request]:
        """Logged requests whose method equals ``method`` and whose path fully matches ``path``."""
        with self.lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method.upper())
                and (path is None or re.fullmatch(path, r.path))
            ]

    def clear_log(self) -> None:
        with self.lock:
            self.requests.clear()


# --------------------------------------------------------------------------------------------------
# What a provider sends to applications (webhooks)
# --------------------------------------------------------------------------------------------------

# (url, headers, body, timeout) -> (status, response headers, response body); status 0 when the
# application could not be reached or did not answer in time.
Transport = Callable[[str, Mapping[str, str], bytes, float], tuple[int, dict[str, str], bytes]]


def http_transport(
    url: str, headers: Mapping[str, str], body: bytes, timeout: float
) -> tuple[int, dict[str, str], bytes]:
    """A real HTTP POST, as the provider makes it."""
    import requests

    try:
        answer = requests.post(url, data=body, headers=dict(headers), timeout=timeout)
    except requests.RequestException:
        return 0, {}, b""
    return answer.status_code, dict(answer.headers), answer.content


@dataclass
class Outgoing:
    """One request a provider makes to an application: ``POST url`` with these headers and body.

    ``batch``: the provider joins what is queued for one address into one POST (Graph: the
    ``value`` arrays of JSON bodies, §2.6). ``not_before``: a late one (a fault switch)."""

    url: str
    headers: dict[str, str]
    body: bytes = b""
    batch: bool = False
    courier: Courier | None = field(default=None, repr=False, compare=False)
    not_before: float = field(default=0.0, repr=False, compare=False)

    def deliver(self, timeout: float = 5.0) -> int:
        """Send it once, now; the status code (0: no answer)."""
        courier = self.courier or Courier()
        return courier.send(self, timeout=timeout).status


@dataclass
class Delivery:
    """One attempt at delivering an :class:`Outgoing`."""

    message: Outgoing
    status: int
    seconds: float
    attempt: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class PushFaults:
    """Fault switches for notifications, consumed by the next ones queued (in order)."""

    def __init__(self) -> None:
        self.to_drop = 0
        self.to_duplicate = 0
        self.delays: list[float] = []

    def drop(self, times: int = 1) -> None:
        """The next ``times`` notifications are never sent (a provider losing them)."""
        self.to_drop += times

    def duplicate(self, times: int = 1) -> None:
        """The next ``times`` notifications are sent twice."""
        self.to_duplicate += times

    def delay(self, seconds: float, times: int = 1) -> None:
        """The next ``times`` notifications are sent ``seconds`` late (later ones overtake)."""
        self.delays.extend([seconds] * times)

    def clear(self) -> None:
        self.to_drop = self.to_duplicate = 0
        self.delays.clear()


class Courier:
    """Delivers a provider's outgoing requests (webhook notifications) to applications.

    By hand: queued messages wait in :attr:`outbox` (a test pops and ``deliver()``s them, or
    calls :meth:`deliver_all`). Started (:meth:`start`): a thread delivers each as soon as it is
    queued, in order, joining batchable ones for one address, and retries a failed attempt
    (``retry(status)``; status 0 is no answer within ``timeout``) up to ``attempts`` times with
    exponential back-off from ``backoff`` seconds: the providers' policies, scaled to seconds.
    Every attempt is logged in :attr:`deliveries`; dropped ones in :attr:`dropped`.
    """

    def __init__(
        self,
        *,
        retry: Callable[[int], bool] = lambda status: status in (0, 500, 502, 503, 504),
        attempts: int = 4,
        backoff: float = 0.5,
        timeout: float = 10.0,
    ) -> None:
        self.retry = retry
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self.transport: Transport = http_transport
        self.outbox: list[Outgoing] = []
        self.deliveries: list[Delivery] = []
        self.dropped: list[Outgoing] = []
        self.faults = PushFaults()
        self._cv = threading.Condition()
        self._scheduled: list[tuple[float, int, Outgoing, int]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._sending = False

    # -- queueing ----------------------------------------------------------------------------------

    def put(self, message: Outgoing) -> None:
        """Queue ``message`` (applying the fault switches)."""
        message.courier = self
        with self._cv:
            if self.faults.to_drop:
                self.faults.to_drop -= 1
                self.dropped.append(message)
                return
            copies = 1
            if self.faults.to_duplicate:
                self.faults.to_duplicate -= 1
                copies = 2
            if self.faults.delays:
                message.not_before = time.monotonic() + self.faults.delays.pop(0)
            for _ in range(copies):
                self.outbox.append(message)
            self._cv.notify_all()

    # -- sending -----------------------------------------------------------------------------------

    def send(
        self, message: Outgoing, *, timeout: float | None = None, attempt: int = 1
    ) -> Delivery:
        """One attempt, now, through :attr:`transport`."""
        begin = time.monotonic()
        status, headers, body = self.transport(
            message.url, message.headers, message.body, self.timeout if timeout is None else timeout
        )
        delivery = Delivery(message, status, time.monotonic() - begin, attempt, headers, body)
        with self._cv:
            self.deliveries.append(delivery)
        return delivery

    def deliver_all(self) -> list[int]:
        """By hand: send everything queued, in order (batches joined), once each."""
        with self._cv:
            queued, self.outbox[:] = list(self.outbox), []
        return [self.send(message).status for message in _joined(queued)]

    # -- the delivery thread -----------------------------------------------------------------------

    def start(self) -> Courier:
        with self._cv:
            if self._thread is None:
                self._stopping = False
                self._thread = threading.Thread(target=self._loop, daemon=True, name="courier")
                self._thread.start()
        return self

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=15)

    @property
    def running(self) -> bool:
        return self._thread is not None

    def idle(self) -> bool:
        """Nothing queued, scheduled or retrying."""
        with self._cv:
            return not self.outbox and not self._scheduled and not self._sending

    def _loop(self) -> None:
        while True:
            with self._cv:
                for message in self.outbox:
                    due = max(message.not_before, time.monotonic())
                    heapq.heappush(self._scheduled, (due, next(self._order), message, 1))
                self.outbox.clear()
                if self._stopping:
                    return
                now = time.monotonic()
                if not self._scheduled or self._scheduled[0][0] > now:
                    wait = self._scheduled[0][0] - now if self._scheduled else 0.5
                    self._cv.wait(timeout=min(max(wait, 0.0), 0.5))
                    continue
                _, _, first, attempt = heapq.heappop(self._scheduled)
                group = [first]
                if first.batch and attempt == 1:
                    # Graph joins what is waiting for one address into one POST.
                    rest = []
                    while self._scheduled and self._scheduled[0][0] <= now:
                        item = heapq.heappop(self._scheduled)
                        if item[2].batch and item[2].url == first.url and item[3] == 1:
                            group.append(item[2])
                        else:
                            rest.append(item)
                    for item in rest:
                        heapq.heappush(self._scheduled, item)
                self._sending = True
            try:
                (message,) = _joined(group)
                delivery = self.send(message, attempt=attempt)
                if self.retry(delivery.status) and attempt < self.attempts:
                    due = time.monotonic() + self.backoff * 2 ** (attempt - 1)
                    with self._cv:
                        heapq.heappush(
                            self._scheduled, (due, next(self._order), message, attempt + 1)
                        )
            finally:
                with self._cv:
                    self._sending = False


def _joined(messages: list[Outgoing]) -> list[Outgoing]:
    """Consecutive batchable messages for one address as one (their JSON ``value`` arrays
    joined, in order); others as they are."""
    out: list[Outgoing] = []
    for message in messages:
        last = out[-1] if out else None
        if last is not None and message.batch and last.batch and last.url == message.url:
            values = json.loads(last.body)["value"] + json.loads(message.body)["value"]
            out[-1] = Outgoing(
                last.url,
                last.headers,
                json.dumps({"value": values}).encode(),
                batch=True,
                courier=last.courier,
            )
        else:
            out.append(message)
    return out

"""``Metrics``: what ``GET /metrics`` reports (Prometheus text format, via prometheus-client): requests,
rate-limit refusals, open streams, and each stream's timing as scheduled and as delivered.

Every label value comes from a bounded set (known routes, served models, fault kinds, HTTP statuses), so
no client can grow the series; with several workers the values live in prometheus-client's multiprocess files.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from typing import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client import CONTENT_TYPE_LATEST

from perceptron_mock.exchange import Exchange
from perceptron_mock.protocol.faults import FaultSpecError, parse as parse_fault

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
OTHER = "other"
NONE = "none"

ROUTES = frozenset({
    "/v1/chat/completions", "/v1/chat/completions/multilook", "/v1/files", "/v1/models", "/health", "/metrics",
    "/docs", "/openapi.json",
})
FAULT_KINDS = ("status", "hang", "reset", "malformed", "cut", "sse_error", "drip", "latency")

FIRST_TOKEN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60, 120)
GAP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 5, 60)


def route_of(path: str) -> str:
    """The route label of ``path``: a known route (a model's or a file's own path by its template, the
    admin API as ``/_admin``), else ``other``."""
    if path in ROUTES:
        return path
    if path.startswith("/v1/models/"):
        return "/v1/models/{model}"
    if path.startswith("/v1/files/"):  # a file's own paths: the id is the caller's, never a label
        return "/v1/files/{file_id}/content" if path.endswith("/content") else "/v1/files/{file_id}"
    if path.startswith("/_admin/") or path == "/_admin":
        return "/_admin"
    return OTHER


def fault_kind(spec: str | None) -> str:
    """What a fault spec does, as a label: one of ``FAULT_KINDS``, ``none`` or ``other``."""
    if spec is None:
        return NONE
    try:
        fault = parse_fault(spec)  # cached: the spec was parsed once already
    except FaultSpecError:
        return OTHER
    if fault.error_after is not None:
        return "sse_error"
    if fault.status is not None:
        return "status"
    for kind, present in (
        ("hang", fault.hang), ("reset", fault.reset), ("malformed", fault.malformed),
        ("cut", fault.cut_after is not None), ("drip", fault.drip_ms), ("latency", fault.latency_ms),
    ):
        if present:
            return kind
    return OTHER


class Metrics:
    """The mock's instruments. In one process they live in a registry of their own (several apps may
    share a process: tests); with ``PROMETHEUS_MULTIPROC_DIR`` set, in that directory's files."""

    def __init__(self, served_models: Iterable[str]) -> None:
        self.models = frozenset(served_models)
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        registry = None if self.multiprocess else CollectorRegistry(auto_describe=True)
        self.registry = registry
        self.requests = Counter(
            "perceptron_mock_requests", "Requests answered, by route, model, status and fault kind.",
            ("route", "model", "status", "fault"), registry=registry,
        )
        self.rate_limited = Counter(
            "perceptron_mock_rate_limit_refusals", "Requests refused by the rate limit (429), by route.",
            ("route",), registry=registry,
        )
        self.open_streams = Gauge(
            "perceptron_mock_open_streams", "Streams being delivered now.", registry=registry, multiprocess_mode="livesum"
        )
        self.first_token_scheduled = Histogram(
            "perceptron_mock_first_token_scheduled_seconds", "Paced streams: the first-token wait the pacing scheduled.",
            buckets=FIRST_TOKEN_BUCKETS, registry=registry,
        )
        self.first_token_delivered = Histogram(
            "perceptron_mock_first_token_delivered_seconds", "Paced streams: when the first token was written, from the stream's start.",
            buckets=FIRST_TOKEN_BUCKETS, registry=registry,
        )
        self.token_scheduled = Histogram(
            "perceptron_mock_token_gap_scheduled_seconds", "Paced streams: the gap scheduled before each event after the first token.",
            buckets=GAP_BUCKETS, registry=registry,
        )
        self.token_delivered = Histogram(
            "perceptron_mock_token_gap_delivered_seconds", "Paced streams: the gap between writing one event and the next.",
            buckets=GAP_BUCKETS, registry=registry,
        )
        self._children: dict[tuple[str, str, str, str], Counter] = {}
        self._pending_requests: dict[tuple[str, str, str, str], int] = {}  # counted since the last scrape (one process)
        self._gaps_scheduled = _Pending(self.token_scheduled, GAP_BUCKETS)
        self._gaps_delivered = _Pending(self.token_delivered, GAP_BUCKETS)

    # --- per request (the cost of every request: a dict lookup and an increment) ---------------------

    def count(self, path: str, exchange: Exchange, status: int | None) -> None:
        route = path if path in ROUTES else route_of(path)  # the known routes (most requests) without a call
        model = exchange.model
        model = NONE if model is None else model if model in self.models else OTHER
        fault = exchange.fault
        key = (route, model, NONE if status is None else str(status), NONE if fault is None else fault_kind(fault))
        if self.multiprocess:  # another worker may answer the scrape: into the files at once
            self._request_counter(key).inc()
        else:  # into the counter at the next scrape: a dict increment, no lock
            pending = self._pending_requests
            pending[key] = pending.get(key, 0) + 1
        quota = exchange.quota
        if quota is not None and quota.retry_us is not None:  # refused (Quota.allowed, read without its property)
            self.rate_limited.labels(route).inc()

    def _request_counter(self, key: tuple[str, str, str, str]) -> Counter:
        child = self._children.get(key)
        if child is None:  # bounded: routes x served models x statuses x fault kinds
            child = self._children[key] = self.requests.labels(*key)
        return child

    # --- per stream (perceptron_mock.render.delivery.StreamObserver) -----------------------------------

    def opened(self) -> None:
        self.open_streams.inc()

    def closed(self) -> None:
        self.open_streams.dec()
        self.flush()

    def first_token(self, scheduled: float, delivered: float) -> None:
        self.first_token_scheduled.observe(scheduled)
        self.first_token_delivered.observe(delivered)

    def token(self, scheduled: float, delivered: float) -> None:
        # Per event, so the cheapest thing possible: a bucket count in this process, flushed into the
        # histograms later (prometheus-client's observe() takes a lock: 9% of a worker busy with
        # 1,000 paced streams, in the profile of bench/timing.py).
        self._gaps_scheduled.add(scheduled)
        self._gaps_delivered.add(delivered)

    # --- exposition ------------------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The text ``GET /metrics`` answers: this process's, or every worker's in multiprocess mode."""
        self.flush()
        if self.registry is not None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)

    def flush(self) -> None:
        """Move the gaps (and, in one process, the requests) counted since the last flush into the instruments: at each scrape, and as each
        stream ends (so that, with several workers, the worker that answers a scrape sees the others')."""
        self._gaps_scheduled.flush()
        self._gaps_delivered.flush()
        if self._pending_requests:
            pending, self._pending_requests = self._pending_requests, {}
            for key, n in pending.items():
                self._request_counter(key).inc(n)

    def process_exited(self) -> None:
        """Drop this worker's open-streams gauge from the multiprocess files, at shutdown."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())


class _Pending:
    """Observations of one histogram counted per bucket, not yet in the histogram."""

    def __init__(self, histogram: Histogram, buckets: tuple[float, ...]) -> None:
        self.histogram = histogram
        self.bounds = buckets
        self.counts = [0] * (len(buckets) + 1)  # the last: +Inf
        self.sum = 0.0
        self.count = 0

    def add(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def flush(self) -> None:
        if not self.count:
            return
        # prometheus-client's own fields: what observe() adds to, one bucket at a time (a test compares
        # the exposition with observe()'s, so a release that changes them fails it).
        histogram = self.histogram
        for i, n in enumerate(self.counts):
            if n:
                histogram._buckets[i].inc(n)
                self.counts[i] = 0
        histogram._sum.inc(self.sum)
        self.sum, self.count = 0.0, 0

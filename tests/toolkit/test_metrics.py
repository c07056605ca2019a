"""``Metrics``: label values stay in bounded sets, the per-event counting adds up to what prometheus-client's
own ``observe()`` reports, and with several workers one scrape sums them all (perceptron_mock.toolkit.metrics)."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from perceptron_mock.exchange import Exchange
from perceptron_mock.toolkit.metrics import GAP_BUCKETS, Metrics, fault_kind, route_of
from tests.api.test_metrics_route import samples, value
from tests.helpers import MODEL, chat
from tests.server import run_server


@pytest.mark.parametrize(
    "path, route",
    [
        ("/v1/chat/completions", "/v1/chat/completions"),
        ("/v1/models", "/v1/models"),
        ("/v1/models/isaac-0.1", "/v1/models/{model}"),
        ("/v1/models/" + "x" * 5000, "/v1/models/{model}"),
        ("/_admin/requests", "/_admin"),
        ("/metrics", "/metrics"),
        ("/wp-login.php", "other"),
        ("/v1/chat/completions/../../etc", "other"),
    ],
)
def test_routes_are_known_routes_or_other(path, route):
    assert route_of(path) == route


@pytest.mark.parametrize(
    "spec, kind",
    [(None, "none"), ("503", "status"), ("429; retry_after=1", "status"), ("sse_error=3", "sse_error"),
     ("503; sse_error=2", "sse_error"), ("hang", "hang"), ("reset", "reset"), ("malformed", "malformed"),
     ("cut=4", "cut"), ("drip=50", "drip"), ("latency=20", "latency"), ("latency=0", "other")],
)
def test_a_fault_is_labelled_by_what_it_does(spec, kind):
    assert fault_kind(spec) == kind


def test_a_hostile_model_name_never_becomes_a_label_value():
    metrics = Metrics([MODEL])
    for n in range(1000):
        metrics.count("/v1/chat/completions", Exchange(model=f"model-{n}"), 404)
    metrics.count("/v1/chat/completions", Exchange(model=MODEL), 200)
    found = samples(metrics.exposition().decode())
    models = {dict(labels).get("model") for name, labels in found if name == "perceptron_mock_requests_total"}
    assert models == {"other", MODEL}
    assert value(found, "perceptron_mock_requests_total", route="/v1/chat/completions", model="other", status="404", fault="none") == 1000


def test_gaps_counted_per_bucket_read_as_observe_would_have_written_them():
    metrics = Metrics([MODEL])
    reference = Histogram("reference_gap_seconds", "", buckets=GAP_BUCKETS, registry=None)
    values = [0.0, 0.001, 0.0011, 0.0333, 0.05, 0.9, 5.0, 61.0, 1e9] + [0.0333] * 100
    for v in values:
        metrics.token(v, v)
        reference.observe(v)
    metrics.closed()  # a stream's end flushes the counts (the gauge may go below 0 here: no stream was opened)
    ours = samples(metrics.exposition().decode())
    theirs = samples(generate_latest(_registry_of(reference)).decode())
    for (name, labels), number in theirs.items():
        if name.startswith("reference_gap_seconds_") and not name.endswith("_created"):
            for kind in ("scheduled", "delivered"):
                mine = name.replace("reference_gap_seconds", f"perceptron_mock_token_gap_{kind}_seconds")
                assert ours[(mine, labels)] == pytest.approx(number), mine


def _registry_of(histogram: Histogram) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(histogram)
    return registry


def test_several_workers_report_through_one_scrape():
    # Each request and each scrape on a new connection, which either worker may accept: whichever
    # answers the scrape reports the requests both served.
    with run_server("--workers", "2", "--rate-limit-per-minute", "0") as server:
        for _ in range(40):
            response = httpx.post(server.url + "/v1/chat/completions", json=chat("Hi"), headers={"authorization": "Bearer k"}, timeout=30)
            assert response.status_code == 200
        scrapes = [samples(httpx.get(server.url + "/metrics", timeout=30).text) for _ in range(4)]
    for found in scrapes:
        assert value(found, "perceptron_mock_requests_total", route="/v1/chat/completions", model=MODEL, status="200", fault="none") == 40

"""GET /metrics: Prometheus text with the documented names, counting what this app did (one registry per app)."""

from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

import seq2seq  # noqa: E402
from seq2seq.serve import ServeOptions, create_app  # noqa: E402

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "v1"
NAMES = {"seq2seq_requests", "seq2seq_translate_seconds", "seq2seq_batch_inputs", "seq2seq_batch_seconds",
         "seq2seq_inputs", "seq2seq_queue_inputs", "seq2seq_queue_requests", "seq2seq_queue_limit_inputs",
         "seq2seq_running_inputs", "seq2seq_inputs_per_second", "seq2seq_in_flight_requests", "seq2seq_in_flight_limit"}


def _samples(client):
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    return families, {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}


def test_metrics_have_the_documented_names_and_count_this_apps_requests():
    model = seq2seq.load(V1 / "tokens")
    with TestClient(create_app(model, ServeOptions(max_inputs=4, max_queue=8))) as a, \
            TestClient(create_app(model)) as b:
        assert a.post("/v1/translate", json={"inputs": ["abc", "de", "f"]}).status_code == 200
        assert a.post("/v1/translate", json={"inputs": ["abc"], "timeout_ms": 60_000}).status_code == 200
        assert a.post("/v1/translate", json={"inputs": ["a"] * 5}).status_code == 413
        assert a.post("/v1/translate", json={"inputs": 3}).status_code == 422
        assert a.get("/no/such/page").status_code == 404
        families, values = _samples(a)
        assert NAMES <= set(families)
        assert families["seq2seq_requests"].type == "counter"
        assert families["seq2seq_translate_seconds"].type == "histogram"
        assert values[("seq2seq_requests_total", (("route", "/v1/translate"), ("status", "200")))] == 2
        assert values[("seq2seq_requests_total", (("route", "/v1/translate"), ("status", "413")))] == 1
        assert values[("seq2seq_requests_total", (("route", "/v1/translate"), ("status", "422")))] == 1
        assert values[("seq2seq_requests_total", (("route", "other"), ("status", "404")))] == 1
        assert values[("seq2seq_translate_seconds_count", ())] == 2
        assert values[("seq2seq_inputs_total", ())] == 4
        assert values[("seq2seq_batch_inputs_count", ())] == 2 and values[("seq2seq_batch_inputs_sum", ())] == 4
        assert values[("seq2seq_batch_inputs_bucket", (("le", "1.0"),))] == 1
        assert values[("seq2seq_queue_inputs", ())] == 0 and values[("seq2seq_queue_limit_inputs", ())] == 8
        assert values[("seq2seq_in_flight_requests", ())] == 0
        assert values[("seq2seq_in_flight_limit", ())] == 8 + 64  # --max-queue and a running batch
        assert values[("seq2seq_inputs_per_second", ())] == pytest.approx(0.4)  # 4 inputs in the last 10 s
        # the other app, in the same process, counted nothing of that
        _, other = _samples(b)
        assert ("seq2seq_requests_total", (("route", "/v1/translate"), ("status", "200"))) not in other
        assert other[("seq2seq_inputs_total", ())] == 0
        assert other[("seq2seq_queue_limit_inputs", ())] == 64  # automatic: the floor until a rate is measured

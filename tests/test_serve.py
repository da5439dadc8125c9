"""`seq2seq serve`: the API through FastAPI's test client, the batcher, and a real server under load."""

import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

import seq2seq  # noqa: E402
from seq2seq.cli import main  # noqa: E402
from seq2seq.serve import Batcher, DecodeOptions, ServeOptions, create_app  # noqa: E402

LIMITS = ServeOptions(max_inputs=4, max_input_chars=20, max_body_bytes=2000, max_beam=6, max_nbest=3,
                      max_output_length=50, batch_wait_ms=2, max_batch=16)


def _words(n, seed=0):
    rng = random.Random(seed)
    return ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9))) for _ in range(n)]


@pytest.fixture(scope="module")
def model(reverse_run):
    return seq2seq.load(reverse_run)


@pytest.fixture(scope="module")
def client(model, reverse_run):
    with TestClient(create_app(model, LIMITS, run_dir=reverse_run)) as c:
        yield c


def _post(client, **body):
    return client.post("/v1/translate", json=body)


# --- endpoints -------------------------------------------------------------------------------------------


def test_health(client):
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["model"] == "run"


def test_model_info(client, model):
    r = client.get("/v1/model")
    assert r.status_code == 200
    info = r.json()
    assert info["preset"] == "attention"
    assert info["model"]["attention"] == model.config.model.attention
    assert info["model"]["encoder_hidden"] == 64
    assert info["source_vocab_size"] == len(model.source.vocab)
    assert info["target_vocab_size"] == len(model.target.vocab)
    assert info["parameters"] == sum(p.numel() for p in model.net.parameters())
    assert info["training"]["epoch"] == 6
    assert 0.5 < info["training"]["valid_exact_match"] <= 1.0
    assert info["training"]["valid_loss"] > 0
    assert "test_exact_match" in info["test"]
    assert info["limits"]["max_beam"] == 6 and info["limits"]["max_inputs"] == 4


def test_translate_greedy_matches_the_python_api(client, model):
    inputs = ["hello", "abc", "serving"]
    r = _post(client, inputs=inputs)
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == "run" and body["elapsed_ms"] >= 0
    expected = model.translate(inputs)
    assert [[o["text"] for o in out] for out in body["outputs"]] == [[h[0].text] for h in expected]
    first = body["outputs"][0][0]
    assert set(first) == {"text", "tokens", "score"}  # no attention unless asked for
    assert first["text"] == "olleh" and first["tokens"] == list("olleh")
    assert first["score"] == pytest.approx(expected[0][0].score, abs=1e-4)


def test_translate_beam_nbest(client, model):
    r = _post(client, inputs=["hello", "world"], beam=4, nbest=3)
    assert r.status_code == 200
    outputs = r.json()["outputs"]
    assert [len(o) for o in outputs] == [3, 3]
    scores = [o["score"] for o in outputs[0]]
    assert scores == sorted(scores, reverse=True)
    expected = model.translate(["hello", "world"], beam=4, nbest=3)
    assert [o["text"] for o in outputs[1]] == [h.text for h in expected[1]]


def test_translate_with_attention(client):
    r = _post(client, inputs=["abcd"], return_attention=True)
    out = r.json()["outputs"][0][0]
    assert out["source_tokens"] == list("abcd")
    assert len(out["attention"]) == len(out["tokens"]) + 1
    assert all(len(row) == 4 and sum(row) == pytest.approx(1.0, abs=1e-4) for row in out["attention"])


def test_translate_sampling_is_reproducible_with_a_seed(client):
    body = {"inputs": ["hello", "abc"], "nbest": 2, "sample": {"temperature": 1.5, "top_k": 5, "top_p": 0.9,
                                                               "seed": 7}}
    a, b = client.post("/v1/translate", json=body), client.post("/v1/translate", json=body)
    assert a.status_code == 200 and a.json()["outputs"] == b.json()["outputs"]
    assert [len(o) for o in a.json()["outputs"]] == [2, 2]  # nbest draws need no beam when sampling


def test_translate_empty_input_and_empty_list(client):
    r = _post(client, inputs=["", "ab"], max_length=10)
    assert r.status_code == 200
    assert r.json()["outputs"][0][0]["text"] == ""
    r = _post(client, inputs=[])
    assert r.status_code == 200 and r.json()["outputs"] == []


def test_page_static_files_and_docs(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert 'id="input"' in page and 'id="beam"' in page and 'id="translate"' in page
    assert "http://" not in page and "https://" not in page  # nothing from a CDN
    js = client.get("/static/app.js")
    assert js.status_code == 200 and "/v1/translate" in js.text and "heatmap" in js.text
    css = client.get("/static/style.css")
    assert css.status_code == 200 and "Noto Sans CJK KR" in css.text and "NanumGothic" in css.text
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/v1/translate", "/v1/model", "/health"} <= set(spec["paths"])


# --- errors ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    {},                                                   # inputs missing
    {"inputs": "hello"},                                  # a string, not a list
    {"inputs": [1, 2]},                                   # not strings
    {"inputs": [None]},
    {"inputs": ["a"], "beam": "5"},                       # no string-to-int coercion
    {"inputs": ["a"], "beam": 2.5},
    {"inputs": ["a"], "beam": True},
    {"inputs": ["a"], "nbest": None},
    {"inputs": ["a"], "return_attention": "yes"},
    {"inputs": ["a"], "beem": 3},                         # unknown field
    {"inputs": ["a"], "sample": {"temperature": 0}},
    {"inputs": ["a"], "sample": {"temperature": -1.0}},
    {"inputs": ["a"], "sample": {"top_k": -1}},
    {"inputs": ["a"], "sample": {"top_p": 0}},
    {"inputs": ["a"], "sample": {"top_p": 1.5}},
    {"inputs": ["a"], "sample": {"seed": "x"}},
    {"inputs": ["a"], "sample": {"tempreature": 1.0}},
    {"inputs": ["a"], "sample": True},
    {"inputs": ["a"], "max_length": 0},
    [{"inputs": ["a"]}],                                  # not an object
])
def test_wrong_types_are_422(client, body):
    r = client.post("/v1/translate", json=body)
    assert r.status_code == 422, r.text
    assert isinstance(r.json()["detail"], list)


@pytest.mark.parametrize("raw", [b"{bad json", b'{"inputs": ["a"]', b"", b"\xff\xfe"])
def test_malformed_json_is_422(client, raw):
    r = client.post("/v1/translate", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422


@pytest.mark.parametrize("body, needle", [
    ({"inputs": ["a"], "beam": 0}, "beam"),
    ({"inputs": ["a"], "beam": 7}, "--max-beam 6"),
    ({"inputs": ["a"], "beam": 6, "nbest": 4}, "--max-nbest 3"),
    ({"inputs": ["a"], "beam": 2, "nbest": 3}, "nbest 3 > beam 2"),
    ({"inputs": ["a"], "nbest": 0}, "nbest"),
    ({"inputs": ["a"], "sample": {}, "nbest": 4}, "--max-nbest 3"),
    ({"inputs": ["a"], "max_length": 51}, "--max-output-length 50"),
])
def test_beam_nbest_and_length_out_of_range_are_422(client, body, needle):
    r = client.post("/v1/translate", json=body)
    assert r.status_code == 422, r.text
    assert needle in json.dumps(r.json()["detail"])


def test_too_many_inputs_is_413(client):
    r = _post(client, inputs=["a"] * 5)
    assert r.status_code == 413
    assert r.json()["detail"] == "too many inputs: 5 > --max-inputs 4"


def test_too_long_input_is_413(client):
    r = _post(client, inputs=["ok", "x" * 21])
    assert r.status_code == 413
    assert r.json()["detail"] == "input 1 too long: 21 characters > --max-input-chars 20"


def test_input_over_the_models_length_limit_is_413(client, model, monkeypatch):
    monkeypatch.setattr(model.config.data, "max_source_length", 5)
    r = _post(client, inputs=["abcdef"])
    assert r.status_code == 413 and "data.max_source_length 5" in r.json()["detail"]
    assert _post(client, inputs=["abcde"]).status_code == 200


def test_body_too_large_by_content_length_is_413(client):
    body = json.dumps({"inputs": ["a" * 10] * 300}).encode()
    r = client.post("/v1/translate", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["detail"] == f"request body too large: {len(body)} bytes > --max-body-bytes 2000"


def test_body_too_large_without_content_length_is_413(client):
    def chunks():  # chunked transfer: no Content-Length, the bytes read are counted
        yield b'{"inputs": ['
        for _ in range(300):
            yield b'"aaaaaaaaaa", '
        yield b'"a"]}'

    r = client.post("/v1/translate", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert "--max-body-bytes 2000" in r.json()["detail"]
    assert client.get("/health").status_code == 200


def test_a_failing_request_does_not_take_the_server_down(model, reverse_run, monkeypatch):
    real = model.translate

    def flaky(inputs, **kw):
        if "boom" in inputs:
            raise RuntimeError("kaboom")
        return real(inputs, **kw)

    monkeypatch.setattr(model, "translate", flaky)
    with TestClient(create_app(model, LIMITS, run_dir=reverse_run), raise_server_exceptions=False) as c:
        r = _post(c, inputs=["boom"])
        assert r.status_code == 500 and "kaboom" in r.json()["detail"]
        assert c.get("/health").json()["status"] == "ok"
        assert _post(c, inputs=["hello"]).json()["outputs"][0][0]["text"] == "olleh"


def test_serve_refuses_bad_limits(reverse_run, capsys):
    assert main(["serve", str(reverse_run), "--max-beam", "0"]) == 2
    assert "--max-beam must be at least 1" in capsys.readouterr().err


# --- the batcher -----------------------------------------------------------------------------------------


class FakeModel:
    """Records every translate call; 'boom' fails the call it is in."""

    def __init__(self, delay=0.0):
        self.calls = []
        self.delay = delay

    def translate(self, inputs, **kw):
        self.calls.append((list(inputs), kw))
        time.sleep(self.delay)
        if "boom" in inputs:
            raise RuntimeError("boom")
        return [[f"{t}/{kw['beam']}"] for t in inputs]


def _run_batcher(fake, requests, **kw):
    async def go():
        b = Batcher(fake, **kw)
        await b.start()
        try:
            return await asyncio.gather(*(b.translate(i, o) for i, o in requests), return_exceptions=True)
        finally:
            await b.stop()

    return asyncio.run(go())


def test_batcher_merges_concurrent_requests_with_equal_options():
    fake = FakeModel()
    greedy, beam = DecodeOptions(), DecodeOptions(beam=3)
    requests = [([f"g{i}"], greedy) for i in range(10)] + [([f"b{i}", f"c{i}"], beam) for i in range(3)]
    out = _run_batcher(fake, requests, max_batch=64, wait_ms=50)
    assert out[:10] == [[[f"g{i}/1"]] for i in range(10)]
    assert out[10:] == [[[f"b{i}/3"], [f"c{i}/3"]] for i in range(3)]
    assert sorted(len(inputs) for inputs, _ in fake.calls) == [6, 10]  # one call per set of options


def test_batcher_respects_max_batch_and_can_be_turned_off():
    fake = FakeModel()
    out = _run_batcher(fake, [([f"x{i}"], DecodeOptions()) for i in range(10)], max_batch=4, wait_ms=50)
    assert out == [[[f"x{i}/1"]] for i in range(10)]
    assert [len(c[0]) for c in fake.calls] == [4, 4, 2]
    fake = FakeModel()
    _run_batcher(fake, [([f"x{i}"], DecodeOptions()) for i in range(5)], max_batch=1, wait_ms=50)
    assert len(fake.calls) == 5
    fake = FakeModel()  # a request larger than max_batch runs whole
    assert _run_batcher(fake, [(["a", "b", "c"], DecodeOptions())], max_batch=2)[0] == [["a/1"], ["b/1"], ["c/1"]]


def test_batcher_never_merges_sampling_requests():
    fake = FakeModel()
    opts = DecodeOptions(sample=True, seed=1)
    _run_batcher(fake, [([f"s{i}"], opts) for i in range(4)], max_batch=64, wait_ms=50)
    assert len(fake.calls) == 4


def test_batcher_isolates_a_failing_request():
    fake = FakeModel()
    out = _run_batcher(fake, [(["ok1"], DecodeOptions()), (["boom"], DecodeOptions()), (["ok2"], DecodeOptions())],
                       max_batch=64, wait_ms=50)
    assert out[0] == [["ok1/1"]] and out[2] == [["ok2/1"]]
    assert isinstance(out[1], RuntimeError)


# --- a real server ---------------------------------------------------------------------------------------


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_server_answers_200_concurrent_requests(reverse_run, model, tmp_path):
    port = _free_port()
    log = open(tmp_path / "serve.log", "w")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "seq2seq", "serve", str(reverse_run), "--port", str(port),
                             "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, Path(tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        assert f"http://127.0.0.1:{port}/" in (tmp_path / "serve.log").read_text()

        words = _words(200, seed=3)
        kinds = [{}, {"beam": 3, "nbest": 2}]
        requests = []
        for i, w in enumerate(words):
            inputs = [w] if i % 10 else [w, words[i - 1]]
            requests.append({"inputs": inputs, **kinds[i % 7 == 0]})
        expected = {}
        for kind in kinds:
            texts = sorted({t for r in requests if (r.get("beam", 1) == kind.get("beam", 1)) for t in r["inputs"]})
            for t, hyps in zip(texts, model.translate(texts, beam=kind.get("beam", 1), nbest=kind.get("nbest", 1))):
                expected[(t, kind.get("beam", 1))] = hyps

        with httpx.Client(base_url=url, timeout=60, limits=httpx.Limits(max_connections=32)) as c:
            def send(body):
                return body, c.post("/v1/translate", json=body)

            with ThreadPoolExecutor(max_workers=32) as pool:
                answers = list(pool.map(send, requests))

            for body, r in answers:
                assert r.status_code == 200, r.text
                outputs = r.json()["outputs"]
                assert len(outputs) == len(body["inputs"])
                for text, out in zip(body["inputs"], outputs):
                    hyps = expected[(text, body.get("beam", 1))]
                    assert [o["text"] for o in out] == [h.text for h in hyps]
                    assert [o["score"] for o in out] == pytest.approx([h.score for h in hyps], abs=1e-3)
            health = c.get("/health").json()
            assert health["status"] == "ok"
            assert health["requests"] == 200
            assert health["batches"] < 200  # concurrent requests were merged
            assert c.post("/v1/translate", json={"inputs": ["x" * 5000]}).status_code == 413
            assert c.get("/health").status_code == 200
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert proc.returncode is not None

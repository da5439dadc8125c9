"""`seq2seq serve`: the API through FastAPI's test client (a trained reverse model, and the tiny format 1
fixture for what needs no trained model), its decoding defaults, and a real server under load."""

import dataclasses
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
from seq2seq import DecodeConfig  # noqa: E402
from seq2seq.cli import main  # noqa: E402
from seq2seq.serve import ServeOptions, create_app  # noqa: E402
from seq2seq.serve import server as server_module  # noqa: E402

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "v1"
LIMITS = ServeOptions(max_inputs=4, max_input_chars=20, max_body_bytes=2000, max_beam=6, max_nbest=3,
                      max_output_length=50, batch_wait_ms=2, max_batch=16)
BEAM = DecodeConfig(strategy="beam", beam_size=3, nbest=2)


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


@pytest.fixture(scope="module")
def tiny():
    return seq2seq.load(V1 / "tokens")


@pytest.fixture(scope="module")
def small(tiny):
    """The same limits around the tiny untrained-looking format 1 model: for what any model answers alike."""
    with TestClient(create_app(tiny, LIMITS, run_dir=V1 / "tokens")) as c:
        yield c


def _post(client, **body):
    return client.post("/v1/translate", json=body)


def _texts(outputs):
    return [[o["text"] for o in out] for out in outputs]


# --- endpoints (the trained model) -----------------------------------------------------------------------


@pytest.mark.slow
def test_health(client):
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["model"] == "run"


@pytest.mark.slow
def test_model_info(client, model):
    r = client.get("/v1/model")
    assert r.status_code == 200
    info = r.json()
    assert info["preset"] == "attention"
    assert info["model"]["attention"] == model.config.model.attention
    assert info["model"]["encoder_hidden"] == 64
    assert info["source"] == {"type": "tokens", "size": len(model.source.vocab)}
    assert info["target"] == {"type": "tokens", "size": len(model.target.vocab)}
    assert info["parameters"] == sum(p.numel() for p in model.net.parameters())
    assert info["training"]["epoch"] == 6
    assert 0.5 < info["training"]["valid_exact_match"] <= 1.0
    assert info["training"]["valid_loss"] > 0
    assert "test_exact_match" in info["test"]
    assert info["limits"]["max_beam"] == 6 and info["limits"]["max_inputs"] == 4
    assert info["decode"] == dataclasses.asdict(model.config.decode)


@pytest.mark.slow
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


@pytest.mark.slow
def test_translate_beam_nbest(client, model):
    r = _post(client, inputs=["hello", "world"], beam=4, nbest=3)
    assert r.status_code == 200
    outputs = r.json()["outputs"]
    assert [len(o) for o in outputs] == [3, 3]
    scores = [o["score"] for o in outputs[0]]
    assert scores == sorted(scores, reverse=True)
    expected = model.translate(["hello", "world"], beam=4, nbest=3)
    assert [o["text"] for o in outputs[1]] == [h.text for h in expected[1]]


@pytest.mark.slow
def test_translate_with_attention(client):
    r = _post(client, inputs=["abcd"], return_attention=True)
    out = r.json()["outputs"][0][0]
    assert out["source_tokens"] == list("abcd")
    assert len(out["attention"]) == len(out["tokens"]) + 1
    assert all(len(row) == 4 and sum(row) == pytest.approx(1.0, abs=1e-4) for row in out["attention"])


@pytest.mark.slow
def test_translate_with_attention_of_a_transformer_gives_each_head(transformer_run):
    with TestClient(create_app(seq2seq.load(transformer_run), LIMITS, run_dir=transformer_run)) as c:
        out = _post(c, inputs=["abcd"], return_attention=True, beam=2).json()["outputs"][0][0]
        plain = _post(c, inputs=["abcd"]).json()["outputs"][0][0]
    heads = out["head_attention"]
    assert len(heads) == 2 and all(len(h) == len(out["attention"]) for h in heads)
    for step, row in enumerate(out["attention"]):
        assert row == pytest.approx([(a + b) / 2 for a, b in zip(heads[0][step], heads[1][step])], abs=1e-6)
    assert "head_attention" not in plain and "attention" not in plain
    # the RNN model's answer has no per-head field (see test_translate_with_attention)


@pytest.mark.slow
def test_translate_sampling_is_reproducible_with_a_seed(client):
    body = {"inputs": ["hello", "abc"], "nbest": 2, "sample": {"temperature": 1.5, "top_k": 5, "top_p": 0.9,
                                                               "seed": 7}}
    a, b = client.post("/v1/translate", json=body), client.post("/v1/translate", json=body)
    assert a.status_code == 200 and a.json()["outputs"] == b.json()["outputs"]
    assert [len(o) for o in a.json()["outputs"]] == [2, 2]  # nbest draws need no beam when sampling


@pytest.mark.slow
def test_translate_empty_input_and_empty_list(client):
    r = _post(client, inputs=["", "ab"], max_length=10)
    assert r.status_code == 200
    assert r.json()["outputs"][0][0]["text"] == ""
    r = _post(client, inputs=[])
    assert r.status_code == 200 and r.json()["outputs"] == []


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_failing_request_does_not_take_the_server_down(model, reverse_run, monkeypatch):
    real = model.translate

    def flaky(inputs, options=None, **kw):
        if "boom" in inputs:
            raise RuntimeError("kaboom")
        return real(inputs, options, **kw)

    monkeypatch.setattr(model, "translate", flaky)
    with TestClient(create_app(model, LIMITS, run_dir=reverse_run), raise_server_exceptions=False) as c:
        r = _post(c, inputs=["boom"])
        assert r.status_code == 500 and r.json() == {"detail": "internal error (logged on the server)"}
        assert c.get("/health").json()["status"] == "ok"
        assert _post(c, inputs=["hello"]).json()["outputs"][0][0]["text"] == "olleh"


# --- errors (any model answers them alike: the tiny fixture) ---------------------------------------------


@pytest.mark.parametrize("body", [
    {},                                                   # inputs missing
    {"inputs": "hello"},                                  # a string, not a list
    {"inputs": [1, 2]},                                   # not strings
    {"inputs": [None]},
    {"inputs": ["a"], "beam": "5"},                       # no string-to-int coercion
    {"inputs": ["a"], "beam": 2.5},
    {"inputs": ["a"], "beam": True},
    {"inputs": ["a"], "nbest": "2"},
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
def test_wrong_types_are_422(small, body):
    r = small.post("/v1/translate", json=body)
    assert r.status_code == 422, r.text
    assert isinstance(r.json()["detail"], list)


def test_null_decoding_fields_mean_the_servers_default(small, tiny):
    # beam, nbest and max_length are optional: null is the same as leaving the field out
    r = _post(small, inputs=["abc"], beam=None, nbest=None, max_length=None)
    assert r.status_code == 200
    assert _texts(r.json()["outputs"]) == [[h.text for h in tiny.translate(["abc"])[0]]]


@pytest.mark.parametrize("raw", [b"{bad json", b'{"inputs": ["a"]', b"", b"\xff\xfe"])
def test_malformed_json_is_422(small, raw):
    r = small.post("/v1/translate", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422


@pytest.mark.parametrize("raw, field", [
    (b'{"inputs": ["a"], "sample": {"temperature": NaN}}', "temperature"),   # JSON has no NaN: Python reads it
    (b'{"inputs": ["a"], "sample": {"top_p": Infinity}}', "top_p"),
    (b'{"inputs": ["a"], "max_length": -Infinity}', "max_length"),
    (b'{"inputs": NaN}', "inputs"),
    (b'{"inputs": ["a\\ud800b"], "return_attention": true}', "inputs"),       # a lone surrogate
    (b'{"inputs": ["a\\u0000b"]}', "inputs"),                                # a NUL character
    (b'{"inputs": ["a"], "sample": {"temperature": 1e-300}}', "temperature"),
    (b'{"inputs": ["a"], "sample": {"seed": 1e23}}', "seed"),
    (b'{"inputs": ["a"], "sample": {"seed": 100000000000000000000000}}', "seed"),
    (b'{"inputs": ["a"], "sample": {"seed": -1}}', "seed"),
])
def test_hostile_values_are_422_with_a_short_message(small, raw, field):
    r = small.post("/v1/translate", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"][-1] == field and set(error) == {"type", "loc", "msg"}  # the bad value is not echoed
    assert len(r.content) < 300


@pytest.mark.parametrize("body, needle, field", [
    ({"inputs": ["a"], "beam": 0}, "beam", "beam"),
    ({"inputs": ["a"], "beam": 7}, "--max-beam 6", "beam"),
    ({"inputs": ["a"], "beam": 6, "nbest": 4}, "--max-nbest 3", "nbest"),
    ({"inputs": ["a"], "beam": 2, "nbest": 3}, "decode.nbest (3) cannot exceed decode.beam_size (2)", "nbest"),
    ({"inputs": ["a"], "nbest": 2}, "decode.nbest=2 needs decode.strategy=beam", "nbest"),  # greedy default
    ({"inputs": ["a"], "nbest": 0}, "nbest", "nbest"),
    ({"inputs": ["a"], "sample": {}, "nbest": 4}, "--max-nbest 3", "nbest"),
    ({"inputs": ["a"], "sample": {}, "beam": 3}, "sampling and beam search exclude each other", None),
    ({"inputs": ["a"], "max_length": 51}, "--max-output-length 50", "max_length"),
])
def test_beam_nbest_and_length_out_of_range_are_422(small, body, needle, field):
    r = small.post("/v1/translate", json=body)
    assert r.status_code == 422, r.text
    assert needle in json.dumps(r.json()["detail"])
    if field is not None:
        assert r.json()["detail"][0]["loc"][-1] == field


def test_too_many_inputs_is_413(small):
    r = _post(small, inputs=["a"] * 5)
    assert r.status_code == 413
    assert r.json()["detail"] == "too many inputs: 5 > --max-inputs 4"


def test_too_long_input_is_413(small):
    r = _post(small, inputs=["ok", "x" * 21])
    assert r.status_code == 413
    assert r.json()["detail"] == "input 1 too long: 21 characters > --max-input-chars 20"


def test_input_over_the_source_limit_is_413():
    tiny = seq2seq.load(V1 / "tokens")
    with TestClient(create_app(tiny, LIMITS, decode=DecodeConfig(max_source_length=5))) as c:
        r = _post(c, inputs=["abcdef"])
        assert r.status_code == 413
        assert r.json()["detail"].startswith("input 0 too long: 6 source steps, more than decode.max_source_length=5")
        assert _post(c, inputs=["abcde"]).status_code == 200


def test_body_too_large_by_content_length_is_413(small):
    body = json.dumps({"inputs": ["a" * 10] * 300}).encode()
    r = small.post("/v1/translate", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["detail"] == f"request body too large: {len(body)} bytes > --max-body-bytes 2000"


def test_body_too_large_without_content_length_is_413(small):
    def chunks():  # chunked transfer: no Content-Length, the bytes read are counted
        yield b'{"inputs": ['
        for _ in range(300):
            yield b'"aaaaaaaaaa", '
        yield b'"a"]}'

    r = small.post("/v1/translate", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert "--max-body-bytes 2000" in r.json()["detail"]
    assert small.get("/health").status_code == 200


def test_serve_refuses_bad_limits(capsys):
    assert main(["serve", str(V1 / "tokens"), "--max-beam", "0"]) == 2
    assert "--max-beam must be at least 1" in capsys.readouterr().err


# --- decoding defaults: the run's decode section, or the server's ----------------------------------------


def test_the_runs_decode_section_is_the_default():
    tiny = seq2seq.load(V1 / "tokens")
    tiny.config.decode = BEAM  # as if trained with --set decode.strategy=beam ...
    with TestClient(create_app(tiny, LIMITS)) as c:
        assert c.get("/v1/model").json()["decode"] == dataclasses.asdict(BEAM)
        r = _post(c, inputs=["abc", "hello"])
        assert r.status_code == 200
        assert _texts(r.json()["outputs"]) == [[h.text for h in hs] for hs in tiny.translate(["abc", "hello"], BEAM)]
        assert [len(o) for o in r.json()["outputs"]] == [2, 2]


def test_create_app_decode_overrides_the_runs_defaults(tiny):
    with TestClient(create_app(tiny, LIMITS, decode=BEAM)) as c:
        info = c.get("/v1/model").json()
        assert info["decode"]["strategy"] == "beam" and info["decode"]["nbest"] == 2
        assert info["decode"]["beam_size"] == 3
        # a request without beam/nbest takes the server's defaults
        r = _post(c, inputs=["abc", "zyx"])
        expected = json.loads((V1 / "expected.json").read_text())["beam3_nbest2"]
        assert _texts(r.json()["outputs"]) == [[t for t, _ in expected[0]], [t for t, _ in expected[2]]]
        assert [o["score"] for o in r.json()["outputs"][0]] == pytest.approx([s for _, s in expected[0]], abs=1e-4)
        # fields given override them, one at a time
        assert [len(o) for o in _post(c, inputs=["abc"], nbest=1).json()["outputs"]] == [1]
        greedy = _post(c, inputs=["abc", "zyx"], beam=1).json()["outputs"]  # greedy: one output
        assert _texts(greedy) == [["s"], ["r"]]
        r = _post(c, inputs=["abc"], nbest=4)  # the default beam of 3 cannot give 4
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "nbest"
        assert "decode.nbest (4) cannot exceed decode.beam_size (3)" in r.json()["detail"][0]["msg"]
    assert tiny.config.decode.strategy == "greedy"  # the model's own config is untouched


def test_serve_decoding_flags_become_the_servers_defaults(monkeypatch, capsys):
    apps = []
    monkeypatch.setattr(server_module, "run_server", lambda app, host, port, log_level, drain: apps.append(
        (app, {"host": host, "port": port})))
    assert main(["serve", str(V1 / "tokens"), "--beam", "3", "--nbest", "2", "--port", "8123",
                 "--log-level", "warning"]) == 0
    assert "serving" in capsys.readouterr().out
    (app, kw), = apps
    assert kw["port"] == 8123
    with TestClient(app) as c:
        decode = c.get("/v1/model").json()["decode"]
        assert (decode["strategy"], decode["beam_size"], decode["nbest"]) == ("beam", 3, 2)
        assert [len(o) for o in _post(c, inputs=["abc"]).json()["outputs"]] == [2]
    assert main(["serve", str(V1 / "tokens"), "--nbest", "2"]) == 2
    assert "decode.nbest=2 needs decode.strategy=beam" in capsys.readouterr().err
    assert main(["serve", str(V1 / "tokens"), "--set", "train.lr=1"]) == 2
    assert "only decode.* keys can change here" in capsys.readouterr().err
    assert len(apps) == 1


# --- a real server ---------------------------------------------------------------------------------------


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
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


def test_an_exported_model_serves_as_its_pytorch_original(tiny_export):
    from seq2seq.engine import load_exported
    from seq2seq.inference.model import Model

    bundle, out = tiny_export
    request = {"inputs": ["abc", "hello"], "beam": 3, "nbest": 2, "return_attention": True}
    answers = []
    for model in (Model(bundle), load_exported(out)):
        with TestClient(create_app(model, LIMITS, out)) as client:
            assert client.get("/v1/model").json()["engine"] == model.engine
            response = client.post("/v1/translate", json=request)
            assert response.status_code == 200
            answers.append(response.json()["outputs"])
    for a, b in zip(*answers):
        assert [h["text"] for h in a] == [h["text"] for h in b]
        assert [h["score"] for h in a] == pytest.approx([h["score"] for h in b], abs=1e-4)

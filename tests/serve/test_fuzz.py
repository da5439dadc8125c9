"""Property tests of the HTTP boundary, with an API key required: Schemathesis generates requests (valid and
invalid) from the server's own /openapi.json and checks that none gets a 5xx other than 503/504 (a 1 ms
timeout_ms is a fair request), that every response matches the schema and that the key is enforced; Hypothesis
sends JSON that Python reads but the schema cannot describe (NaN, Infinity, lone surrogates, huge numbers) and
checks that each gets a short 4xx or a correct answer."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")
from fastapi.testclient import TestClient  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.config import SchemathesisConfig  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

import seq2seq  # noqa: E402
from seq2seq.serve import ServeOptions, create_app  # noqa: E402

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "v1"
LIMITS = ServeOptions(max_inputs=4, max_input_chars=60, max_body_bytes=20_000, max_beam=4, max_output_length=20,
                      batch_wait_ms=0)
KEY = "fuzz-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
APP = create_app(seq2seq.load(V1 / "tokens"), LIMITS, run_dir=V1 / "tokens", api_key=KEY)
# Schema-valid requests may still be refused (nbest above beam, a NUL in an input, the server's limits): the
# schema cannot say so, so "valid data is accepted" is not among the checks.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection, ignored_auth]


def _schema(examples: int):
    config = SchemathesisConfig.from_dict({"seed": 1, "headers": AUTH, "generation": {
        "mode": "all", "max-examples": examples, "deterministic": True, "database": "none"},
        "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503", "504"]}}})
    return schemathesis.openapi.from_asgi("/openapi.json", APP, config=config, headers=AUTH)


@_schema(25).parametrize()
def test_no_generated_request_gets_a_5xx_and_every_answer_matches_the_schema(case):
    case.call_and_validate(checks=CHECKS)


@pytest.mark.slow
@_schema(200).parametrize()
def test_no_generated_request_gets_a_5xx_and_every_answer_matches_the_schema_many(case):
    case.call_and_validate(checks=CHECKS)


# --- JSON beyond the schema ------------------------------------------------------------------------------

ODD = (st.floats() | st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e-300, 1e23, 10**23, -1, 2**64])
       | st.text(max_size=8) | st.sampled_from(["\ud800", "a\x00b", "\udfff\ud800"]) | st.none() | st.booleans()
       | st.integers())
JSON = st.recursive(ODD, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                       max_size=3), max_leaves=6)
FIELD = st.sampled_from(["inputs", "beam", "nbest", "max_length", "sample", "return_attention"])
BODY = st.one_of(
    st.dictionaries(FIELD, JSON, max_size=4),
    st.fixed_dictionaries({"inputs": st.lists(st.text(max_size=12) | ODD, max_size=3)},
                          optional={"sample": st.dictionaries(
                                        st.sampled_from(["temperature", "top_k", "top_p", "seed"]), ODD, max_size=3),
                                    "return_attention": JSON, "beam": ODD, "nbest": ODD, "max_length": ODD}),
    JSON)


@pytest.fixture(scope="module")
def client():
    with TestClient(APP, raise_server_exceptions=False) as c:
        yield c


def _post(client, body):
    # json.dumps writes NaN and Infinity, and \ud800 as an escape: what a hostile client can send.
    raw = json.dumps(body).encode()
    r = client.post("/v1/translate", content=raw, headers={"content-type": "application/json", **AUTH})
    assert r.status_code in (200, 400, 413, 422, 504), r.text
    answer = r.json()
    if r.status_code == 200:
        assert len(answer["outputs"]) == len(body["inputs"])
    else:
        assert len(r.content) < 2000 and "Traceback" not in r.text


@pytest.mark.parametrize("examples", [60, pytest.param(400, marks=pytest.mark.slow)])
def test_any_json_body_gets_an_answer_or_a_short_4xx(client, examples):
    settings(max_examples=examples)(given(BODY)(lambda body: _post(client, body)))()

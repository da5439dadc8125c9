"""The translate route's own body handling (json_route.py): the same answers as FastAPI's parameter machinery gave,
a 422 naming the place for every body that is not a valid request, and never a 500."""

import json

import pytest
from fastapi.exceptions import RequestValidationError

from seq2seq.serve.json_route import is_json, parse_body
from seq2seq.serve.schema import TranslateRequest


def _errors(raw: bytes, content_type: str | None = "application/json") -> list[dict]:
    with pytest.raises(RequestValidationError) as e:
        parse_body(TranslateRequest, raw, content_type)
    return list(e.value.errors())


@pytest.mark.parametrize("content_type, expected", [
    ("application/json", True), ("application/json; charset=utf-8", True), ("Application/JSON", True),
    ("application/problem+json", True), ("text/plain", False), ("application/x-www-form-urlencoded", False),
    ("text/json", False), ("", False), (None, False)])
def test_json_content_types(content_type, expected):
    assert is_json(content_type) is expected


def test_a_valid_body_becomes_the_model():
    req = parse_body(TranslateRequest, b'{"inputs": ["a", "b"], "beam": 3}', "application/json")
    assert req.inputs == ["a", "b"] and req.beam == 3 and req.sample is None


@pytest.mark.parametrize("raw, content_type, kind, loc", [
    (b"", "application/json", "missing", ["body"]),
    (b'{"inputs": ["a"]}', "text/plain", "model_attributes_type", ["body"]),
    (b'{"inputs": ["a"]}', None, "model_attributes_type", ["body"]),
    (b"{bad json", "application/json", "json_invalid", ["body", 1]),
    (b"\xff\xfe\x00", "application/json", "json_invalid", ["body"]),  # no text in any UTF
    (b"[" * 100_000 + b"]" * 100_000, "application/json", "json_invalid", ["body"]),  # deeper than Python's stack
    (b"[1, 2]", "application/json", "model_type", ["body"]),
    (b'{"inputs": "a"}', "application/json", "list_type", ["body", "inputs"]),
    (b'{"inputs": ["a"], "sample": {"top_p": 2}}', "application/json", "less_than_equal", ["body", "sample", "top_p"]),
    (b'{"inputs": ["a"], "colour": 1}', "application/json", "extra_forbidden", ["body", "colour"]),
])
def test_every_bad_body_is_one_422_naming_where(raw, content_type, kind, loc):
    (error,) = _errors(raw, content_type)
    assert error["type"] == kind and list(error["loc"]) == loc
    assert "input" not in error  # the value is never echoed back
    json.dumps(error)  # and what is said can be sent

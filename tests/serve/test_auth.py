"""The API key (a Bearer token on every route but /health, compared in constant time), the refusal to bind
beyond loopback without one, and CORS (off unless an origin is given)."""

from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

import seq2seq  # noqa: E402
from seq2seq.cli import main  # noqa: E402
from seq2seq.serve import auth, create_app  # noqa: E402
from seq2seq.serve import server as server_module  # noqa: E402
from seq2seq.serve.auth import check_exposure, is_loopback  # noqa: E402

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "v1"
KEY = "s3cret-key-0123456789"
GOOD = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def tiny():
    return seq2seq.load(V1 / "tokens")


@pytest.fixture(scope="module")
def locked(tiny):
    with TestClient(create_app(tiny, api_key=KEY)) as c:
        yield c


@pytest.mark.parametrize("method, path", [("POST", "/v1/translate"), ("GET", "/v1/model"), ("GET", "/metrics"),
                                          ("GET", "/"), ("GET", "/static/app.js"), ("GET", "/docs"),
                                          ("GET", "/openapi.json")])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY},
                                     {"Authorization": f"Basic {KEY}"}, {"Authorization": f"Bearer {KEY}x"},
                                     {"Authorization": f"Bearer {KEY[:-1]}"}])
def test_every_route_but_health_needs_the_key(locked, method, path, headers):
    r = locked.request(method, path, headers=headers, json={"inputs": ["abc"]} if method == "POST" else None)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert KEY not in r.text


def test_the_key_opens_every_route_and_health_needs_none(locked):
    assert locked.post("/v1/translate", json={"inputs": ["abc"]}, headers=GOOD).status_code == 200
    assert locked.post("/v1/translate", json={"inputs": ["abc"]},
                       headers={"Authorization": f"bearer  {KEY}"}).status_code == 200  # scheme in any case
    for path in ("/v1/model", "/metrics", "/", "/docs", "/openapi.json"):
        assert locked.get(path, headers=GOOD).status_code == 200, path
    assert locked.get("/health").status_code == 200
    info = locked.get("/v1/model", headers=GOOD).text
    assert KEY not in info


def test_the_key_is_compared_in_constant_time(tiny, monkeypatch):
    compared = []
    real = auth.hmac.compare_digest
    monkeypatch.setattr(auth.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    with TestClient(create_app(tiny, api_key=KEY)) as c:
        assert c.get("/v1/model", headers={"Authorization": "Bearer guess"}).status_code == 401
    assert compared == [(b"guess", KEY.encode())]


def test_the_schema_documents_the_bearer_scheme(locked):
    spec = locked.get("/openapi.json", headers=GOOD).json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http", "scheme": "bearer", "description": "the server's --api-key"}
    for path, method in (("/v1/translate", "post"), ("/v1/model", "get"), ("/metrics", "get")):
        operation = spec["paths"][path][method]
        assert operation["security"] == [{"HTTPBearer": []}] and "401" in operation["responses"]
    assert "security" not in spec["paths"]["/health"]["get"]


def test_without_a_key_nothing_is_asked_and_the_schema_has_no_scheme(tiny):
    with TestClient(create_app(tiny)) as c:
        assert c.post("/v1/translate", json={"inputs": ["abc"]}).status_code == 200
        spec = c.get("/openapi.json").json()
    assert "securitySchemes" not in spec.get("components", {})
    assert "security" not in spec["paths"]["/v1/translate"]["post"]


def test_cors_is_off_unless_an_origin_is_given(tiny):
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"}
    with TestClient(create_app(tiny)) as c:
        r = c.post("/v1/translate", json={"inputs": ["abc"]}, headers={"Origin": "https://app.example"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
        assert "access-control-allow-origin" not in c.options("/v1/translate", headers=preflight).headers
    with TestClient(create_app(tiny, api_key=KEY, cors_origins=["https://app.example"])) as c:
        r = c.options("/v1/translate", headers=preflight)  # a preflight carries no key: CORS answers it
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://app.example"
        r = c.post("/v1/translate", json={"inputs": ["abc"]}, headers={"Origin": "https://app.example", **GOOD})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://app.example"
        other = c.options("/v1/translate", headers={**preflight, "Origin": "https://evil.example"})
        assert other.status_code == 400 and "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True),
                                            ("localhost", True), ("0.0.0.0", False), ("::", False),
                                            ("192.168.1.10", False), ("example.com", False)])
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_exposure_needs_a_key_or_the_insecure_flag():
    check_exposure("127.0.0.1", None, False)
    check_exposure("0.0.0.0", KEY, False)
    check_exposure("0.0.0.0", None, True)
    with pytest.raises(ValueError, match="refusing to serve on --host 0.0.0.0 without an API key"):
        check_exposure("0.0.0.0", None, False)


def _serving(monkeypatch):
    runs = []
    monkeypatch.setattr(server_module, "run_server",
                        lambda app, host, port, log_level, drain: runs.append((app, host)))
    return runs


def test_serve_refuses_a_public_address_without_a_key(monkeypatch, capsys):
    runs = _serving(monkeypatch)
    monkeypatch.delenv("SEQ2SEQ_API_KEY", raising=False)
    assert main(["serve", str(V1 / "tokens"), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "refusing to serve on --host 0.0.0.0 without an API key" in err and "--insecure-no-auth" in err
    assert runs == []
    assert main(["serve", str(V1 / "tokens"), "--host", "0.0.0.0", "--insecure-no-auth"]) == 0
    (app, host), = runs
    with TestClient(app) as c:
        assert host == "0.0.0.0" and c.get("/v1/model").status_code == 200


def test_serve_takes_the_key_from_the_flag_or_the_environment_and_never_prints_it(monkeypatch, capsys):
    runs = _serving(monkeypatch)
    monkeypatch.setenv("SEQ2SEQ_API_KEY", KEY)
    assert main(["serve", str(V1 / "tokens"), "--host", "0.0.0.0"]) == 0
    monkeypatch.delenv("SEQ2SEQ_API_KEY")
    assert main(["serve", str(V1 / "tokens"), "--host", "::", "--api-key", "other-key"]) == 0
    out = capsys.readouterr()
    assert KEY not in out.out + out.err and "other-key" not in out.out + out.err
    assert "every route but /health needs the API key" in out.out
    for (app, _), key in zip(runs, (KEY, "other-key")):
        with TestClient(app) as c:
            assert c.get("/v1/model").status_code == 401
            assert c.get("/v1/model", headers={"Authorization": f"Bearer {key}"}).status_code == 200

"""The page of `seq2seq serve` in a real browser: Debian's Chromium driven by Playwright, headless."""

import os
import socket
import threading
import time

import pytest

pytest.importorskip("fastapi")
import seq2seq  # noqa: E402
from seq2seq.serve import create_app  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")  # only ever the system's Chromium
pytestmark = pytest.mark.slow  # a trained model, a server thread and a browser


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}: install the Debian package `chromium` "
                    "(apt-get install chromium) to run the browser test")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def _serve(run):
    """Serve a run on a free port in a thread: yields (url, model)."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model = seq2seq.load(run)
    srv = uvicorn.Server(uvicorn.Config(create_app(model, run_dir=run), host="127.0.0.1", port=port,
                                        log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", model
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(reverse_run):
    yield from _serve(reverse_run)


@pytest.fixture(scope="module")
def transformer_server(transformer_run):
    yield from _serve(transformer_run)


def test_page_translates_and_draws_the_attention_heatmap(browser, server, tmp_path):
    url, model = server
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    requested, errors = [], []
    page.on("request", lambda r: requested.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/")
    page.wait_for_function("document.getElementById('model-info').textContent.includes('parameters')")

    page.fill("#input", "hello")
    page.fill("#beam", "4")
    page.fill("#nbest", "2")
    page.click("#translate")
    page.wait_for_selector(".output-text")
    page.wait_for_selector("#heatmap")
    expected = model.translate(["hello"], beam=4, nbest=2)[0]
    assert page.locator(".output-text").all_inner_texts() == [h.text for h in expected]
    assert len(page.locator(".score").all_inner_texts()) == 2
    first = expected[0]
    assert page.locator("#heatmap rect").count() == (len(first.tokens) + 1) * len("hello")
    assert page.locator("#heatmap text.source-label").all_text_contents() == list("hello")
    assert page.locator("#heatmap text.output-label").all_text_contents() == first.tokens + ["</s>"]
    assert page.locator("#head-choice").is_hidden()  # one attention map: no choice of heads
    page.screenshot(path=str(tmp_path / "serve_page.png"), full_page=True)
    assert (tmp_path / "serve_page.png").stat().st_size > 1000

    # Hangul labels (unknown to this model, but they must still be drawn) and errors shown in the page.
    page.fill("#input", "한글 ab")
    page.click("#translate")
    page.wait_for_function("[...document.querySelectorAll('#heatmap text.source-label')]"
                           ".some(t => t.textContent === '한')")
    width = page.evaluate("[...document.querySelectorAll('#heatmap text.source-label')]"
                          ".find(t => t.textContent === '한').getComputedTextLength()")
    assert width > 0
    page.screenshot(path=str(tmp_path / "serve_page_hangul.png"), full_page=True)

    page.fill("#beam", "50")
    page.click("#translate")
    page.wait_for_selector("#error:not([hidden])")
    assert "--max-beam 16" in page.inner_text("#error")

    assert not errors, errors
    assert all(u.startswith(url) for u in requested), requested  # nothing fetched from elsewhere
    page.close()


def test_page_shows_each_head_of_a_transformer(browser, transformer_server):
    url, model = transformer_server
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/")
    page.wait_for_function("document.getElementById('model-info').textContent.includes('parameters')")
    assert "transformer encoder, transformer decoder" in page.inner_text("#model-info")
    page.fill("#input", "abcd")
    page.fill("#beam", "1")
    page.fill("#nbest", "1")
    page.click("#translate")
    page.wait_for_selector("#heatmap")
    expected = model.translate(["abcd"], attention=True)[0][0]
    assert page.locator("#head-choice").is_visible()
    assert page.locator("#head option").all_text_contents() == ["mean of the heads", "head 1", "head 2"]

    def shades():
        return [float(t.split(": ")[1]) for t in page.locator("#heatmap rect title").all_text_contents()]

    flat = lambda rows: [w for row in rows for w in row]  # noqa: E731
    assert shades() == pytest.approx(flat(expected.attention), abs=1e-3)
    page.select_option("#head", label="head 2")
    assert shades() == pytest.approx(flat(expected.head_attention[1]), abs=1e-3)
    assert flat(expected.head_attention[1]) != pytest.approx(flat(expected.attention), abs=1e-3)
    assert not errors, errors
    page.close()

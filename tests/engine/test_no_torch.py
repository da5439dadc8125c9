"""The ONNX engine imports no torch: in a process where importing torch fails, an exported directory loads,
translates (greedy, beam, sampling), answers the command line and serves HTTP requests."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # starts Python processes

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import json, sys
    sys.modules["torch"] = None  # `import torch` now raises ImportError, in this process and its imports
    import seq2seq
    from seq2seq.cli import main
    model = seq2seq.load(sys.argv[1])
    out = {"engine": model.engine,
           "greedy": [r[0].text for r in model.translate(["abc", "hello"])],
           "beam": [[h.text for h in r] for r in model.translate(["abc", "hello"], beam=3, nbest=2)],
           "sample": [r[0].text for r in model.translate(["abc"], sample=True, seed=1)]}
    from fastapi.testclient import TestClient
    from seq2seq.serve import create_app
    with TestClient(create_app(model)) as client:
        out["http"] = client.post("/v1/translate", json={"inputs": ["abc"]}).json()["outputs"][0][0]["text"]
    out["torch_loaded"] = [m for m in sys.modules if m == "torch" or m.startswith("torch.")
                           if sys.modules[m] is not None]
    print(json.dumps(out))
    sys.stdout.flush()
    sys.exit(main(["translate", sys.argv[1], "--input", sys.argv[2]]))
""")


def test_engine_runs_where_torch_cannot_be_imported(tiny_export, tmp_path):
    bundle, out = tiny_export
    from seq2seq.inference.model import Model

    expected = Model(bundle)
    inputs = tmp_path / "in.txt"
    inputs.write_text("abc\nhello\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(out), str(inputs)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    first, *lines = done.stdout.splitlines()
    result = json.loads(first)
    assert result["engine"] == "onnx" and result["torch_loaded"] == []
    assert result["greedy"] == [r[0].text for r in expected.translate(["abc", "hello"])]
    assert result["beam"] == [[h.text for h in r] for r in expected.translate(["abc", "hello"], beam=3, nbest=2)]
    assert result["http"] == result["greedy"][0]
    assert lines == result["greedy"]


def _cli_without_torch(argv):
    script = f"import sys; sys.modules['torch'] = None\nfrom seq2seq.cli import main\nsys.exit(main({argv!r}))"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(ROOT / "src")), stdin=subprocess.DEVNULL)


def test_torch_commands_say_what_to_install(tmp_path):
    done = _cli_without_torch(["translate", str(ROOT / "tests" / "fixtures" / "v1" / "tokens")])
    assert done.returncode == 2 and "the PyTorch engine needs torch: pip install 'seq2seq[torch]'" in done.stderr
    done = _cli_without_torch(["train", "--task", "date", "--out", str(tmp_path / "run")])
    assert done.returncode == 2 and "`seq2seq train` needs PyTorch: pip install 'seq2seq[torch]'" in done.stderr

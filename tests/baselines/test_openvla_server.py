"""The baselines' stand-alone server (harness/baselines/openvla_server.py) and its pinned environment.

Fast: it imports nothing from the harness; a missing checkpoint is a clear error; its REST layer answers the harness's
`openvla-rest` client (action, ECoT's reasoning logged per cycle, text for VQA, deploy.py's "error"). Slow: `make
baseline-env` builds the pinned environment from a clean state and serves a stand-in checkpoint (OpenVLA's
`predict_action` signature, loaded with trust_remote_code: the real 7B weights are not reachable here) end to end.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from harness.paths import REPO_ROOT
from harness.serve.client import PolicyServerError
from harness.serve.openvla_rest import OpenVLARestClient, OpenVLARestPolicy, OpenVLARestTextModel
from tests.ports import free_port
from tests.serve.conftest import INSTRUCTION, observation

SERVER = REPO_ROOT / "harness" / "baselines" / "openvla_server.py"
pytestmark = pytest.mark.timeout(900)


def _server_module():
    sys.path.insert(0, str(SERVER.parent))
    try:
        import openvla_server
    finally:
        sys.path.remove(str(SERVER.parent))
    return openvla_server


def test_the_server_imports_nothing_from_the_harness():
    tree = ast.parse(SERVER.read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not {n for n in names if n.split(".")[0] in ("harness", "tests")}, names


def test_a_missing_checkpoint_names_it_and_the_download_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert _server_module().main(["--kind", "ecot"]) == 2
    err = capsys.readouterr().err
    assert "Embodied-CoT/ecot-openvla-7b-bridge" in err and "huggingface-cli download Embodied-CoT/" in err


class FakeBaseline:
    """What `Baseline` answers, without a model: the REST layer is under test here."""

    def __init__(self, kind: str, fail: bool = False):
        self.kind, self.path, self.fail, self.seen = kind, Path("standin"), fail, []

    def act(self, image, instruction, unnorm_key):
        self.seen.append((image.shape, instruction, unnorm_key))
        if self.fail:
            raise RuntimeError("prediction failed")
        action = np.array([0.01, 0.0, -0.01, 0.1, -0.1, 0.2, 1.0])
        return action if self.kind == "openvla" else {"action": action, "reasoning": "PLAN: grasp. ACTION:"}

    def generate(self, image, prompt, max_new_tokens):
        return {"text": f"{prompt[:3]}|{max_new_tokens}"}


def _serve(baseline):
    server = _server_module().make_server(baseline, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_rest_layer_answers_the_openvla_rest_client():
    for kind in ("openvla", "ecot"):
        baseline = FakeBaseline(kind)
        server, url = _serve(baseline)
        try:
            policy = OpenVLARestPolicy(OpenVLARestClient(url))
            policy.start(INSTRUCTION, observation(0))
            out = policy.act(observation(0))
            assert out.chunk[0].rotation == (0.1, -0.1, 0.2) and out.chunk[0].translation == (0.01, 0.0, -0.01)
            assert out.texts.get("reasoning") == (None if kind == "openvla" else "PLAN: grasp. ACTION:")
            assert baseline.seen[0][1:] == (INSTRUCTION, "bridge_orig")
            assert OpenVLARestTextModel(url).generate("Is it red?", [observation(0).image], 7) == "Is |7"
        finally:
            server.shutdown()
            server.server_close()


def test_a_failed_prediction_is_deploy_pys_error_reply():
    server, url = _serve(FakeBaseline("openvla", fail=True))
    try:
        with pytest.raises(PolicyServerError, match="answered 'error'"):
            OpenVLARestClient(url).act(observation(0).image, INSTRUCTION)
    finally:
        server.shutdown()
        server.server_close()


def _wait_healthy(url: str, proc: subprocess.Popen, limit_s: float = 180) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else "server exited"
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} not healthy after {limit_s} s")


@pytest.mark.slow
def test_baseline_env_builds_from_clean_and_serves_the_standin(tmp_path):
    from tests.baselines.standin.make_checkpoint import BRIDGE
    from tests.baselines.standin.modeling_standin import REASONING, standin_action

    venvs = tmp_path / "venvs"
    t0 = time.monotonic()
    subprocess.run(["make", "--no-print-directory", "baseline-env", "NAME=openvla", f"BASELINE_VENVS={venvs}"],
                   cwd=REPO_ROOT, check=True)
    print(f"make baseline-env NAME=openvla from clean: {time.monotonic() - t0:.0f} s")
    python = venvs / "openvla" / "bin" / "python"
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import openvla_server; openvla_server.import_torchvision(); "
             "import transformers, timm, tokenizers; print(transformers.__version__, timm.__version__, "
             "tokenizers.__version__)")
    versions = subprocess.run([python, "-c", probe, SERVER.parent], capture_output=True, text=True)
    assert versions.stdout.split() == ["4.40.1", "0.9.10", "0.19.1"], versions.stderr[-2000:]
    openvla_server = _server_module()
    image = np.full((480, 640, 3), 200, np.uint8)
    for kind in ("openvla", "ecot"):
        ckpt = tmp_path / kind
        subprocess.run([python, REPO_ROOT / "tests/baselines/standin/make_checkpoint.py", ckpt]
                       + (["--reasoning"] if kind == "ecot" else []), check=True)
        port = free_port()
        env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
        proc = subprocess.Popen([python, SERVER, "--kind", kind, "--checkpoint", ckpt, "--port", str(port)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, proc)
            policy = OpenVLARestPolicy(OpenVLARestClient(url))
            obs = observation(0)
            obs.image = image
            policy.start(INSTRUCTION, obs)
            out = policy.act(obs)
            prompt = openvla_server.KINDS[kind]["prompt"].format(instruction=INSTRUCTION.lower())
            expected = standin_action(200 / 127.5 - 1.0, len(prompt.encode()), BRIDGE["action"])
            np.testing.assert_allclose(out.chunk[0].rotation, expected[3:6], rtol=1e-5)
            np.testing.assert_allclose(out.chunk[0].translation, expected[:3], rtol=1e-5)
            assert out.texts.get("reasoning") == (None if kind == "openvla" else "TASK:" + REASONING)  # from its tag on
            assert OpenVLARestTextModel(url).generate("Is it bright?", [image]) == "yes"
        finally:
            proc.terminate()
            proc.wait(10)


def test_a_served_baseline_spec_drives_trials_with_its_control_and_answers_vqa():
    """`openvla-served`: the trial policy carries the baseline's own evaluation settings, and VQA's generator (the
    adapter's `generate_batch`) reaches the baseline server's text endpoint."""
    from dataclasses import replace

    from PIL import Image

    from harness.serve.remote import remote_policy
    from harness.specs import load_model as load_spec
    from harness.vqa.generator import load_generator

    server, url = _serve(FakeBaseline("openvla"))
    try:
        spec = replace(load_spec("openvla-served"), url=url + "/act")
        policy = remote_policy(spec)
        assert policy.control == spec.control and spec.control.hz == 5.0 and spec.control.max_steps == 60
        image = Image.fromarray(observation(0).image)
        assert load_generator(spec).generate_batch([[image, "Is it red?"]], max_new_tokens=9) == ["Is |9"]
    finally:
        server.shutdown()
        server.server_close()

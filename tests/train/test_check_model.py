"""check-model: training records the probe's greedy answers beside the adapter; the same model reloaded matches
them, and a changed output (the silent regression OpenVLA's users hit) fails, naming the probe that differs."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

import harness.models
from harness.cli.main import app
from harness.models import load_model
from harness.models.check import PROMPTS, REFERENCE_FILE, check_model
from harness.robot.factory import SetupError, check_policy_models
from harness.train.recipe import train


def test_a_trained_adapter_checks_and_an_injected_change_fails(dlan, private_dirs, monkeypatch):
    result = train("tiny", dlan, private_dirs / "check-run", recipe="lora-cpu", max_steps=2, progress=False)
    ref = json.loads((result.adapter_dir / REFERENCE_FILE).read_text())
    assert ref["prompts"] == list(PROMPTS) and len(ref["outputs"]) == len(PROMPTS)
    assert ref["environment"]["device"] == "cpu" and ref["environment"]["torch"] != "absent"

    loaded = load_model("tiny", adapter=result.adapter_dir)
    assert check_model(loaded, result.adapter_dir).ok

    real = loaded.generate_batch

    def changed(contents, **kw):  # one answer comes out differently, as after a library regression
        out = real(contents, **kw)
        return [out[0] + " x", *out[1:]]

    monkeypatch.setattr(loaded, "generate_batch", changed)
    check = check_model(loaded, result.adapter_dir)
    assert not check.ok
    assert check.differences[0].startswith(f"probe 0 ({PROMPTS[0]!r}): expected ")
    assert len(check.differences) == 2 and check.differences[1].startswith("environment then vs now: ")

    # robot-trials runs the same check before a session starts and refuses on a mismatch
    with pytest.raises(SetupError, match=r"(?s)'tiny' does not answer its check probe.*probe 0.*--skip-model-check"):
        check_policy_models({"tiny": SimpleNamespace(loaded=loaded)})

    monkeypatch.setattr(harness.models, "load_model", lambda name: loaded)
    r = CliRunner().invoke(app, ["check-model", "--model", "tiny"])
    assert r.exit_code == 1 and "probe 0" in r.output
    monkeypatch.setattr(loaded, "generate_batch", real)
    r = CliRunner().invoke(app, ["check-model", "--model", "tiny"])
    assert r.exit_code == 0, r.output
    assert check_policy_models({"tiny": SimpleNamespace(loaded=loaded), "oracle": SimpleNamespace()}) == []

"""A served policy anywhere a model goes: `ws://` / `http://` URLs and `type: remote` specs resolve to remote model
specs; robot-trials runs them (blind A/B with a local model; the same command resumes after the server died), the
simulator's factory builds them, VQA generates through them; the commands that cannot use one say so."""

from __future__ import annotations

import logging
import sqlite3

import pytest
from PIL import Image
from typer.testing import CliRunner

from harness.cli.main import app
from harness.policy.factory import make_policy
from harness.robot.factory import SetupError, model_policy
from harness.serve.client import PolicyServerError, RemotePolicy
from harness.serve.server import ServedModel
from harness.specs import SpecError, load_model
from harness.specs.model import ModelSpec
from tests.ports import free_port
from tests.serve.conftest import observation, serve
from tests.serve.processes import ServerProcess

pytestmark = pytest.mark.timeout(240)


# ---------------------------------------------------------------- specs
@pytest.mark.parametrize("url, name, protocol", [
    ("ws://127.0.0.1:8000", "ws-127.0.0.1-8000", "openpi"),
    ("wss://gpu-box.lab:443", "wss-gpu-box.lab-443", "openpi"),
    ("http://127.0.0.1:8000/act", "http-127.0.0.1-8000-act", "openvla-rest"),
])
def test_a_url_is_a_remote_model_spec(url, name, protocol):
    spec = load_model(url)
    assert (spec.name, spec.type, spec.url, spec.protocol, spec.base) == (name, "remote", url, protocol, url)
    assert spec.timeout_s == ModelSpec.timeout_s and spec.connect_timeout_s == ModelSpec.connect_timeout_s


def test_remote_spec_files_load_and_bad_ones_name_the_key(experiments_copy):
    models = experiments_copy / "models"
    (models / "gpu-vlm2vla.yaml").write_text("type: remote\nurl: ws://gpu-box:8000\ntimeout_s: 120\n")
    spec = load_model("gpu-vlm2vla")
    assert (spec.type, spec.url, spec.protocol, spec.timeout_s, spec.base) == (
        "remote", "ws://gpu-box:8000", "openpi", 120.0, "ws://gpu-box:8000")
    for text, key in [("type: remote\n", "url"),
                      ("type: remote\nurl: http://gpu-box:8000\n", "url"),  # openpi speaks websocket
                      ("type: remote\nurl: ws://gpu-box:8000\nprotocol: grpc\n", "protocol"),
                      ("type: remote\nurl: ws://gpu-box:8000\ntimeout_s: 0\n", "timeout_s"),
                      ("type: scripted\nbase: scripted\nurl: ws://gpu-box:8000\n", "url")]:
        (models / "bad.yaml").write_text(text)
        with pytest.raises(SpecError, match=rf"bad.yaml: key '{key}'"):
            load_model("bad")


def test_local_factories_refuse_a_remote_spec_and_a_dead_server_fails_setup(free_port):
    spec = load_model(f"ws://127.0.0.1:{free_port}")
    with pytest.raises(ValueError, match="remote_policy"):
        make_policy(spec)
    with pytest.raises(SetupError, match=rf"ws-127.0.0.1-{free_port}.*cannot connect.*start the server"):
        model_policy(spec)


@pytest.fixture(name="free_port")
def free_port_fixture():
    return free_port()


def test_sim_factory_builds_served_policies(scripted_server):
    from harness.sim.factory import make_policy as sim_policy

    policy = sim_policy(load_model(scripted_server.url), backend=None)  # type: ignore[arg-type]
    try:
        assert isinstance(policy, RemotePolicy) and policy.name == load_model(scripted_server.url).name
        assert policy.start("pick up the carrot", observation())[0] == "reach the object"
    finally:
        policy.close()


# ---------------------------------------------------------------- robot-trials
def _rows(db) -> list[tuple]:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT model, trial_index, outcome, attempt, note FROM trials ORDER BY id").fetchall()


def test_blind_ab_local_against_served(tmp_path, monkeypatch):
    monkeypatch.setenv("VLM2VLA_RESULTS", str(tmp_path / "results"))
    with ServerProcess.serve(tmp_path / "srv") as server:
        db = tmp_path / "t.sqlite"
        r = CliRunner().invoke(app, ["robot-trials", "--task", "pickup", "--model", f"scripted,{server.url}",
                                     "--robot", "dry-run", "--trials", "1", "--db", str(db)],
                                    input="s\n\nf\n0\n\na\n\n")  # f: progress none; preference a
    assert r.exit_code == 0, r.output
    name = f"ws-127.0.0.1-{server.port}"
    assert sorted(m for m, *_ in _rows(db)) == sorted(["scripted", name])
    assert "policy A" in r.output and "policy B" in r.output and f"= {name}" in r.output  # revealed at the end
    assert r.output.count("cycle 4 | sub-task: lift the object") == 2  # the served trial ran the same script


def test_the_same_command_resumes_after_the_server_died(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("VLM2VLA_RESULTS", str(tmp_path / "results"))
    caplog.set_level(logging.INFO, logger="harness.robot.backends.dry_run")
    db = tmp_path / "t.sqlite"
    with ServerProcess.fault(tmp_path / "srv", "die", at=6) as server:  # trial 1's second cycle
        port = server.port
        command = ["robot-trials", "--task", "pickup", "--model", server.url, "--robot", "dry-run", "--trials", "3",
                   "--db", str(db)]
        r = CliRunner().invoke(app, command, input="s\n\n")
    assert r.exit_code == 3, r.output  # unfinished: rerun to resume
    assert "the policy server failed" in r.output and "rerun the same command once the server is back" in r.output
    name = f"ws-127.0.0.1-{port}"
    first = _rows(db)
    assert [x[:4] for x in first] == [(name, 0, "success", 1), (name, 1, "invalid", 1)]
    assert "policy server fault" in first[1][4] and "closed the connection" in first[1][4]
    sleeps = [i for i, rec in enumerate(caplog.records) if rec.getMessage() == "dry run: sleep pose"]
    fault = next(i for i, rec in enumerate(caplog.records) if "policy server fault in cycle 2" in rec.getMessage())
    assert len(sleeps) == 2 and sleeps[0] < fault < sleeps[1]  # parked at the fault, then leaving the session

    with ServerProcess.serve(tmp_path / "srv2", port=port):  # back, on the same address
        r = CliRunner().invoke(app, command, input="f\n0\n\ns\n\n")  # f: progress none
    assert r.exit_code == 0, r.output
    assert "resuming: 1 trial(s) already scored" in r.output
    assert _rows(db)[:2] == first  # nothing already scored is touched
    assert [x[1:4] for x in _rows(db)[2:]] == [(1, "failure", 2), (2, "success", 1)]


def test_bench_policy_points_a_served_policy_to_bench_serve():
    r = CliRunner().invoke(app, ["bench", "policy", "--model", "ws://127.0.0.1:9"])
    assert r.exit_code == 2 and "vlm2vla bench serve" in r.stderr


# ---------------------------------------------------------------- VQA
def test_vqa_generates_through_a_served_model(scripted_spec):
    pytest.importorskip("transformers")
    from harness.models import load_model as load_weights
    from harness.vqa.generator import load_generator

    spec = load_model("tiny")
    loaded = load_weights(spec)
    server = serve(ServedModel(spec, lambda: make_policy(spec, loaded=loaded), loaded))
    try:
        remote = load_generator(server.url)
        content = [[Image.fromarray(observation(i).image), f"Question {i}: what is shown?"] for i in range(2)]
        assert remote.generate_batch(content, max_new_tokens=5, temperature=0.0) == \
            loaded.generate_batch(content, max_new_tokens=5, temperature=0.0)
    finally:
        server.stop()
    # an OpenVLA-REST URL answers VQA through the baseline server's text endpoint (harness/baselines)
    assert load_generator("http://127.0.0.1:9/act").url == "http://127.0.0.1:9/generate"
    plain = serve(ServedModel.load(scripted_spec))
    try:
        with pytest.raises(PolicyServerError, match="serves no text requests"):
            load_generator(plain.url)
    finally:
        plain.stop()

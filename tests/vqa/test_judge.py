"""The judge: explicit, recorded, and checked before inference (VLMEvalKit would silently fall back)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.records import CHANCE_MODEL
from harness.vqa import judge as judges
from tests.vqa.fakes import constant

ENV = {"VLM2VLA_JUDGE_MODEL": "judge-llm", "OPENAI_API_KEY": "sk-test"}


@pytest.fixture
def chat_server():
    """An OpenAI-compatible chat endpoint on loopback that answers every request with 'A'."""
    requests: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            requests.append(body)
            out = json.dumps({"choices": [{"message": {"role": "assistant", "content": "A"}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1/chat/completions", requests
    finally:
        server.shutdown()
        server.server_close()


def test_exact_matching_is_passed_explicitly():
    j = judges.from_env("exact_matching", {})
    assert j.label == "exact_matching" and j.evaluate_kwargs()["model"] == "exact_matching"


def test_openai_judge_names_missing_variables():
    with pytest.raises(judges.JudgeError, match="needs VLM2VLA_JUDGE_MODEL, OPENAI_API_BASE, OPENAI_API_KEY"):
        judges.from_env("openai", {})
    with pytest.raises(judges.JudgeError, match="must be an http"):
        judges.from_env("openai", {**ENV, "OPENAI_API_BASE": "localhost:8000"})
    with pytest.raises(judges.JudgeError, match="unknown judge 'gpt'"):
        judges.from_env("gpt", {})


def test_unreachable_judge_fails_before_inference():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    j = judges.from_env("openai", {**ENV, "OPENAI_API_BASE": f"http://127.0.0.1:{port}/v1/chat/completions"})
    with pytest.raises(judges.JudgeError, match="did not answer a test request"):
        judges.preflight(j)


def test_openai_judge_extracts_answers_and_is_recorded(chat_server, run_suite, staged, monkeypatch):
    """Answers VLMEvalKit's rules cannot read go to the judge (here: always 'A'), and rows say which judge."""
    import pandas as pd

    url, requests = chat_server
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    j = judges.from_env("openai", {**ENV, "OPENAI_API_BASE": url})
    judges.preflight(j)
    before = len(requests)
    result, _ = run_suite(constant("no idea"), only=["MMStar_EMB"], judge=j)
    answers = pd.read_csv(staged / "MMStar_EMB.tsv", sep="\t")["answer"]
    assert len(requests) - before >= len(answers)  # one per unreadable answer (plus VLMEvalKit's own probe)
    a_rate = (answers == "A").mean() * 100
    heads = [r for r in result.rows if r.metric == "Overall"]
    assert heads[0].score == pytest.approx(a_rate, abs=1e-3)
    assert {r.judge for r in result.rows} == {"openai:judge-llm"}


def test_exact_matching_cannot_read_the_same_answers(run_suite):
    result, _ = run_suite(constant("no idea"), only=["MMStar_EMB"])
    assert [r.score for r in result.rows if r.metric == "Overall" and r.model != CHANCE_MODEL] == [0.0]
    assert [r.model for r in result.rows if r.metric == "Overall" and r.model == CHANCE_MODEL] == [CHANCE_MODEL]

"""Fake Gemini back-ends for tests (no network).

- `FakeGeminiClient`: the `client.models.generate_content` surface. It answers like a careful annotator by reading
  the trajectory out of the prompt (cut where the gripper changes, true displacements, plans naming the main
  directions), and injects faults per call: 429 / 503 (`google.genai.errors`), timeout (`ReadTimeout`), invalid
  JSON, inconsistent answers, empty text, a plan naming the opposite direction.
- `mock_transport_client`: a real `google.genai.Client` whose HTTP goes to an httpx `MockTransport`, to check that
  the SDK's own retries (our `HttpRetryOptions`) recover from 429/503/timeouts.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

_STATE = re.compile(r"^t=(\d+) x=(\S+) y=(\S+) z=(\S+) gripper=(\S+)$", re.MULTILINE)
_INSTRUCTION = re.compile(r"^Instruction: (.*)$", re.MULTILINE)


def states_from_prompt(prompt: str) -> tuple[list[tuple[float, float, float]], list[str]]:
    rows = _STATE.findall(prompt)
    return [(float(x), float(y), float(z)) for _, x, y, z, _ in rows], [g for *_, g in rows]


_WORDS = (("forward", "backward"), ("left", "right"), ("up", "down"))


def oracle_plan(d_cm: list[float]) -> str:
    """What a careful annotator writes: the directions of the larger components of the step's displacement."""
    largest = max(abs(v) for v in d_cm)
    words = [_WORDS[k][0 if d_cm[k] > 0 else 1] for k in sorted(range(3), key=lambda k: -abs(d_cm[k]))
             if abs(d_cm[k]) >= max(0.5, 0.5 * largest)]
    return "move " + " and ".join(words) if words else "stay"


def oracle_answer(prompt: str, names: Callable[[int], str] | None = None) -> dict[str, Any]:
    """Steps cut at gripper changes (and once in the middle of long runs) with the true displacements and plans."""
    xyz, grip = states_from_prompt(prompt)
    n = len(xyz) - 1
    cuts = [0] + [t for t in range(1, n) if grip[t] != grip[t - 1]] + [n]
    bounds = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        if b - a >= 10:
            bounds += [(a, (a + b) // 2), ((a + b) // 2, b)]
        else:
            bounds.append((a, b))
    instruction = _INSTRUCTION.search(prompt).group(1)
    steps = []
    for i, (a, b) in enumerate(bounds):
        d = [100 * (xyz[b][k] - xyz[a][k]) for k in range(3)]
        steps.append({"first_state": a, "last_state": b,
                      "subtask": names(i) if names else f"step {i + 1} of {instruction}",
                      "motion_plan": oracle_plan(d), "forward_cm": round(d[0], 3), "left_cm": round(d[1], 3),
                      "up_cm": round(d[2], 3)})
    return {"steps": steps}


def _httpx():
    """google-genai 3.x talks through httpx2 (a fork under its own name), older releases through httpx."""
    try:
        import httpx2

        return httpx2
    except ImportError:
        import httpx

        return httpx


def api_error(code: int):
    from google.genai import errors

    body = {"error": {"code": code, "message": "injected", "status": "UNAVAILABLE" if code >= 500 else "RESOURCE_EXHAUSTED"}}
    return (errors.ServerError if code >= 500 else errors.ClientError)(code, body)


class FakeGeminiClient:
    """`fault(call_index, prompt) -> kind | None`; kinds: 429, 503, timeout, invalid_json, inconsistent,
    bad_boundaries, empty, wrong_plan. Thread-safe; records calls, prompts and the peak number of calls in flight."""

    def __init__(self, fault: Callable[[int, str], str | None] | None = None, delay_s: float = 0.0,
                 usage: tuple[int, int, int] = (1200, 300, 500)):
        self.fault = fault or (lambda i, p: None)
        self.delay_s = delay_s
        self.usage = usage  # prompt, candidates, thoughts tokens per answer
        self.calls = 0
        self.prompts: list[str] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self._lock = threading.Lock()
        self.models = SimpleNamespace(generate_content=self.generate_content)

    def generate_content(self, model: str, contents: list[Any], config: Any = None) -> Any:
        prompt = next(c for c in contents if isinstance(c, str))
        with self._lock:
            index = self.calls
            self.calls += 1
            self.prompts.append(prompt)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if self.delay_s:
                time.sleep(self.delay_s)
            kind = self.fault(index, prompt)
            if kind in ("429", "503"):
                raise api_error(int(kind))
            if kind == "timeout":
                raise _httpx().ReadTimeout("injected timeout")
            answer = oracle_answer(prompt)
            if kind == "inconsistent":
                answer["steps"][0]["up_cm"] += 7.5
            elif kind == "bad_boundaries":
                answer["steps"][-1]["last_state"] += 3
            elif kind == "wrong_plan":  # the opposite of the first step's main direction
                first = answer["steps"][0]
                d = [first["forward_cm"], first["left_cm"], first["up_cm"]]
                first["motion_plan"] = oracle_plan([-v for v in d])
            text = {"invalid_json": '{"steps": [{"first_state": 0, ', "empty": ""}.get(kind, json.dumps(answer))
            p, c, t = self.usage
            meta = SimpleNamespace(prompt_token_count=p, candidates_token_count=c, thoughts_token_count=t,
                                   total_token_count=p + c + t)
            return SimpleNamespace(text=text, usage_metadata=meta, parsed=None)
        finally:
            with self._lock:
                self.in_flight -= 1


def mock_transport_client(spec: Any, responses: list[Any]):
    """A real google-genai client over an httpx2 MockTransport. `responses`: per request, an HTTP status (int),
    'timeout', or a dict answer (200). Returns (client, seen requests list)."""
    from harness.data.gemini import make_client

    httpx2 = _httpx()
    seen: list[Any] = []

    def handler(request: Any) -> Any:
        seen.append(request)
        item = responses[min(len(seen) - 1, len(responses) - 1)]
        if item == "timeout":
            raise httpx2.ReadTimeout("injected timeout", request=request)
        if isinstance(item, int):
            return httpx2.Response(item, json={"error": {"code": item, "message": "injected", "status": "X"}})
        prompt = json.loads(request.content)["contents"][0]["parts"][-1]["text"]
        answer = oracle_answer(prompt) if item == "oracle" else item
        body = {"candidates": [{"content": {"role": "model", "parts": [{"text": json.dumps(answer)}]},
                                "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 900, "candidatesTokenCount": 200, "thoughtsTokenCount": 100,
                                  "totalTokenCount": 1200}}
        return httpx2.Response(200, json=body)

    client = make_client(spec, api_key="test-key", httpx_client=httpx2.Client(transport=httpx2.MockTransport(handler)))
    return client, seen

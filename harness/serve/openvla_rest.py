"""Client of OpenVLA's own REST server (`vla-scripts/deploy.py`): `POST /act` with a json-numpy body.

Body: `{"image": uint8 H x W x 3, "instruction": str, "unnorm_key": str}` encoded with json-numpy (the real package,
as deploy.py's clients patch `json` with it); the reply is the 7-dim action (dx, dy, dz, droll, dpitch, dyaw,
gripper), json-numpy encoded (deploy.py double-encodes only when asked to with an "encoded" body; we never ask).
Our baseline server (`harness/baselines/openvla_server.py`, for OpenVLA and ECoT in their own environments) answers
the same request the same way, except that ECoT's reply is `{"action": ..., "reasoning": text}` so its chain of
thought is logged per cycle; it also serves `POST /generate` (prompt + image -> text) for VQA.
deploy.py answers a failed prediction with the string "error" and HTTP 200: that, a non-200 status, a timeout, a
refused connection or a reply that is not a finite 7-vector all raise `PolicyServerError`.

The policy wrapper is flat like `harness.policy.baselines.OpenVLAPolicy`: the instruction is its only sub-task and
each cycle is one step. It executes what the baseline predicts, as OpenVLA's Bridge evaluation does: translation,
rotation (bounded by the envelope) and gripper; the rotation is also in the cycle's stats.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

import json_numpy
import numpy as np

from harness.actions.types import bridge_step
from harness.policy.base import CycleOutput, FlatPolicy, Observation
from harness.serve.client import PolicyServerError
from harness.specs.model import ControlSpec

ACTION_DIM = 7
ROTATION_KEYS = ("droll", "dpitch", "dyaw")


class OpenVLARestClient:
    def __init__(self, url: str, *, unnorm_key: str | None = "bridge_orig", timeout_s: float = 30.0):
        self.url = url.rstrip("/") + "/act" if not url.rstrip("/").endswith("/act") else url.rstrip("/")
        self.unnorm_key, self.timeout_s = unnorm_key, timeout_s

    def act(self, image: np.ndarray, instruction: str) -> np.ndarray:
        """The 7-dim action deploy.py predicts for one image and instruction."""
        return self.act_with_reasoning(image, instruction)[0]

    def act_with_reasoning(self, image: np.ndarray, instruction: str) -> tuple[np.ndarray, str | None]:
        """The 7-dim action and, from a reasoning baseline (ECoT), the text it generated before the action."""
        body: dict[str, Any] = {"image": np.ascontiguousarray(image, dtype=np.uint8), "instruction": instruction}
        if self.unnorm_key is not None:
            body["unnorm_key"] = self.unnorm_key
        request = urllib.request.Request(self.url, data=json_numpy.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        reply, text = _post(request, self.url, self.timeout_s)
        reasoning = None
        if isinstance(reply, dict) and "action" in reply:  # our ECoT server: the action and its reasoning
            reasoning, reply = reply.get("reasoning"), reply["action"]
            if reasoning is not None and not isinstance(reasoning, str):
                raise PolicyServerError(f"{self.url}: 'reasoning' is not text: {reasoning!r}")
        try:
            action = np.asarray(reply, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise PolicyServerError(f"{self.url}: the reply is not a numeric action: {text[:200]!r}") from e
        if action.shape != (ACTION_DIM,) or not np.isfinite(action).all():
            raise PolicyServerError(f"{self.url}: expected a finite {ACTION_DIM}-dim action, got {action.tolist()!r}")
        return action, reasoning


def _post(request: urllib.request.Request, url: str, timeout_s: float) -> tuple[Any, str]:
    """Send one request; the decoded json-numpy reply and its text. Every failure is a PolicyServerError."""
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as e:
        raise PolicyServerError(f"{url}: HTTP {e.code}: {e.read()[:500]!r}") from e
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        raise PolicyServerError(f"{url}: no reply within {timeout_s} s or unreachable: {e}") from e
    try:
        reply = json_numpy.loads(text)
    except (ValueError, TypeError) as e:
        raise PolicyServerError(f"{url}: the reply is not json-numpy: {text[:200]!r}") from e
    if isinstance(reply, str):
        raise PolicyServerError(f"{url}: the server answered {reply!r} (deploy.py's failed prediction)")
    return reply, text


class OpenVLARestTextModel:
    """Prompt + image -> text from our baseline server's `POST /generate` (VQA of the served baselines: their
    processors have no chat template, so the server wraps the prompt in their plain "In: ...\nOut:" format)."""

    def __init__(self, url: str, *, timeout_s: float = 120.0):
        base = url.rstrip("/")
        self.url = (base[: -len("/act")] if base.endswith("/act") else base) + "/generate"
        self.timeout_s = timeout_s

    def generate(self, prompt: str, images: list[np.ndarray], max_new_tokens: int = 64) -> str:
        if len(images) != 1:
            raise ValueError(f"the OpenVLA-style baselines see exactly one image per prompt, got {len(images)}")
        body = {"image": np.ascontiguousarray(images[0], dtype=np.uint8), "prompt": prompt,
                "max_new_tokens": int(max_new_tokens)}
        request = urllib.request.Request(self.url, data=json_numpy.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        reply, text = _post(request, self.url, self.timeout_s)
        if not isinstance(reply, dict) or not isinstance(reply.get("text"), str):
            raise PolicyServerError(f"{self.url}: expected {{'text': str}}, got {text[:200]!r}")
        return reply["text"]

    def generate_batch(self, contents: Sequence[Sequence[Any]], *, max_new_tokens: int = 64, **options: Any
                       ) -> list[str]:
        """The VQA adapter's call: each message's text parts joined as the prompt, its one image as the image
        (greedy: the server decodes greedily, so sampling options are not sent)."""
        out = []
        for content in contents:
            prompt = "\n".join(c for c in content if isinstance(c, str))
            images = [np.asarray(c.convert("RGB"), dtype=np.uint8) for c in content if not isinstance(c, str)]
            out.append(self.generate(prompt, images, max_new_tokens=max_new_tokens))
        return out


class OpenVLARestPolicy(FlatPolicy):
    """A baseline served by deploy.py, as a flat policy (see the module doc)."""

    def __init__(self, client: OpenVLARestClient, name: str = "openvla-rest", control: ControlSpec | None = None):
        self.client, self.name = client, name
        self.control = control  # the baseline's own evaluation settings (its model spec's), read by the runner
        self.instruction: str | None = None

    def act(self, observation: Observation) -> CycleOutput:
        if self.instruction is None:
            raise RuntimeError("act() called before start()")
        t0 = time.perf_counter()
        action, reasoning = self.client.act_with_reasoning(observation.image, self.instruction)
        gripper = float(action[6])
        if not 0.0 <= gripper <= 1.0:
            raise PolicyServerError(f"{self.client.url}: gripper {gripper} is outside [0, 1]")
        text = json.dumps([float(v) for v in action])
        stats = {"latency_s": time.perf_counter() - t0, **{k: float(v) for k, v in zip(ROTATION_KEYS, action[3:6], strict=True)}}
        texts = {"action": text} if reasoning is None else {"reasoning": reasoning, "action": text}
        return CycleOutput(self.instruction, "", text, [bridge_step(action)], None, texts, stats)

"""The judge VLMEvalKit scores with, always passed explicitly and recorded with every score.

`exact_matching` (the default) extracts answers with VLMEvalKit's rules only. `openai` lets VLMEvalKit ask an
OpenAI-compatible chat endpoint to extract an answer where its rules fail (multiple choice, yes/no); it is configured
from the environment and checked before any inference, because VLMEvalKit silently falls back to exact matching
when a judge does not answer, which would make the recorded judge a lie.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.specs.vqa import JUDGES

JUDGE_ENV = ("VLM2VLA_JUDGE_MODEL", "OPENAI_API_BASE", "OPENAI_API_KEY")


class JudgeError(RuntimeError):
    """The judge is misconfigured or unreachable; the message says which variable or endpoint."""


@dataclass(frozen=True)
class Judge:
    kind: str  # exact_matching | openai
    model: str | None = None  # judge model name at the endpoint (openai only)
    api_base: str | None = None  # full chat-completions URL (openai only)
    nproc: int = 4

    @property
    def label(self) -> str:
        """What scores.csv records in `judge`."""
        return self.kind if self.kind == "exact_matching" else f"{self.kind}:{self.model}"

    def evaluate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for VLMEvalKit's `dataset.evaluate(pred_file, **kwargs)`."""
        if self.kind == "exact_matching":
            return dict(model="exact_matching", nproc=1)
        return dict(model=self.model, api_base=self.api_base, nproc=self.nproc, retry=3, timeout=120, verbose=False)


def from_env(kind: str, env: Mapping[str, str] | None = None) -> Judge:
    """The judge named `kind`; `openai` reads VLM2VLA_JUDGE_MODEL, OPENAI_API_BASE and OPENAI_API_KEY."""
    env = os.environ if env is None else env
    if kind not in JUDGES:
        raise JudgeError(f"unknown judge {kind!r}; expected one of {', '.join(JUDGES)}")
    if kind == "exact_matching":
        return Judge(kind)
    missing = [v for v in JUDGE_ENV if not env.get(v)]
    if missing:
        raise JudgeError(f"judge 'openai' needs {', '.join(missing)} in the environment: VLM2VLA_JUDGE_MODEL (e.g. "
                         "gpt-4o-mini), OPENAI_API_BASE (the full chat-completions URL of an OpenAI-compatible "
                         "server, e.g. http://localhost:8000/v1/chat/completions) and OPENAI_API_KEY; or use "
                         "--judge exact_matching")
    base = env["OPENAI_API_BASE"]
    if not base.startswith(("http://", "https://")):
        raise JudgeError(f"OPENAI_API_BASE={base!r} must be an http(s) URL of a chat-completions endpoint")
    return Judge(kind, model=env["VLM2VLA_JUDGE_MODEL"], api_base=base)


def preflight(judge: Judge) -> None:
    """Ask an `openai` judge one question through VLMEvalKit; raise unless it answers (no-op for exact matching)."""
    if judge.kind == "exact_matching":
        return
    from harness.vqa import kit

    kit.load()
    with kit.preserved_state():
        from vlmeval.dataset.utils import build_judge

        client = build_judge(model=judge.model, api_base=judge.api_base, retry=1, wait=0, timeout=30, verbose=False)
        ok = client.working()
    if not ok:
        raise JudgeError(f"judge {judge.label} at {judge.api_base} did not answer a test request; VLMEvalKit would "
                         "silently fall back to exact matching. Check the server, OPENAI_API_KEY and "
                         "VLM2VLA_JUDGE_MODEL, or use --judge exact_matching")

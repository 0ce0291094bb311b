"""The Gemini annotator (google-genai): key frames + the state trajectory in, sub-task segmentation out.

Per episode one `generate_content` request: the key frames as JPEG parts (first, last, gripper events, evenly
spaced in between) and the state trajectory as text with the axis convention; the answer is JSON validated against
`GeminiDecomposition`. The answer is used only when it agrees with the trajectory: steps contiguous and in range,
and each step's displacement within `displacement_tolerance_cm` of the real one (so their sum matches the
episode's). Chunks are then computed from the real deltas exactly as for the rules annotator; anything else
(invalid JSON, inconsistent answer, an API error after the SDK's retries) falls back to `rules` for that episode
and is counted with its reason. As in the paper, Gemini also writes the motion plans: a step keeps Gemini's plan
when it names the chunk's dominant directions (`harness.actions.plan.plan_disagreement`), else it gets the rule
plan and the disagreement is counted.

Valid answers are cached on disk under the sha256 of their content (model, settings, prompt, schema, image bytes),
so a re-run costs zero API calls; an answer that fails validation is never cached (a re-run asks again, and a
cached entry that no longer validates is dropped). Retries with exponential backoff on 408/429/5xx and timeouts are the SDK's own
(`HttpRetryOptions`); concurrency is a bounded thread pool; tokens and cost are accounted per call.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from harness.actions import gripper_event
from harness.actions.plan import named_directions, named_gripper_events, plan_disagreement
from harness.data.bridge import Episode
from harness.data.decomposition import (
    Decomposition,
    Segment,
    SegmentError,
    annotate_safely,
    build_steps,
    check_segments,
)
from harness.data.rules import RulesAnnotator
from harness.paths import cache_dir
from harness.records.atomic import atomic_write_text
from harness.specs.actions import DecompositionSpec
from harness.specs.data import GeminiSpec, RulesSpec

API_KEY_ENV = "GEMINI_API_KEY"
CACHE_VERSION = 1


class GeminiSetupError(RuntimeError):
    """The Gemini annotator cannot start (no key, no SDK). The message says how to fix it."""


class GeminiStep(BaseModel):
    first_state: int = Field(description="index of the state where the step starts")
    last_state: int = Field(description="index of the state where the step ends (the next step starts here)")
    subtask: str = Field(description="short imperative sub-task, e.g. 'grasp the carrot'")
    motion_plan: str = Field(description="direction words only, e.g. 'move down and slightly forward'")
    forward_cm: float = Field(description="net gripper displacement over the step along +x (forward), cm")
    left_cm: float = Field(description="net gripper displacement along +y (left), cm")
    up_cm: float = Field(description="net gripper displacement along +z (up), cm")


class GeminiDecomposition(BaseModel):
    steps: list[GeminiStep]


class AnswerError(ValueError):
    """The answer cannot be used. `code`: invalid_json | empty_response | bad_boundaries | displacement_mismatch."""

    def __init__(self, code: str, detail: str):
        self.code, self.detail = code, detail
        super().__init__(f"{code}: {detail}")


@dataclass
class GeminiUsage:
    """Token and cost accounting (thread-safe). Cached answers cost nothing now; their tokens are kept apart."""

    calls: int = 0
    cache_hits: int = 0
    api_errors: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0  # candidates + thinking tokens (both billed as output)
    cached_prompt_tokens: int = 0
    cached_output_tokens: int = 0
    cost_usd: float = 0.0
    fallbacks: dict[str, int] = field(default_factory=dict)
    invalid_cached: int = 0  # cached answers that no longer validate (dropped and asked again)
    plans_used: int = 0  # steps that keep Gemini's motion plan
    plan_disagreements: int = 0  # Gemini plans that did not name the chunk's dominant directions (rule plan used)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, tokens: dict[str, int], cached: bool, spec: GeminiSpec) -> None:
        with self._lock:
            if cached:
                self.cache_hits += 1
                self.cached_prompt_tokens += tokens.get("prompt", 0)
                self.cached_output_tokens += tokens.get("output", 0)
            else:
                self.calls += 1
                self.prompt_tokens += tokens.get("prompt", 0)
                self.output_tokens += tokens.get("output", 0)
                self.cost_usd += cost_usd(tokens, spec)

    def api_error(self) -> None:
        """A call that failed after the SDK's retries (billed nothing, counted as a call)."""
        with self._lock:
            self.api_errors += 1
            self.calls += 1

    def fallback(self, code: str) -> None:
        with self._lock:
            self.fallbacks[code] = self.fallbacks.get(code, 0) + 1

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {f.name: copy.copy(getattr(self, f.name)) for f in fields(self) if f.name != "_lock"}


def cost_usd(tokens: dict[str, int], spec: GeminiSpec) -> float:
    return (tokens.get("prompt", 0) * spec.input_usd_per_mtok + tokens.get("output", 0) * spec.output_usd_per_mtok) / 1e6


# ---------------------------------------------------------------------------------------------------- request
def key_frames(episode: Episode, limit: int) -> list[int]:
    """First and last state, gripper events, then evenly spaced states, at most `limit`, in time order."""
    n = episode.n_steps
    g = episode.deltas[:, 3]
    chosen = {0, n} | {t for t in range(1, n) if g[t] != g[t - 1]}
    chosen = set(sorted(chosen, key=lambda t: (t not in (0, n), t))[:limit])
    for t in np.linspace(0, n, num=limit).round().astype(int):
        if len(chosen) >= limit:
            break
        chosen.add(int(t))
    return sorted(chosen)


def trajectory_text(episode: Episode) -> str:
    lines = []
    for t, s in enumerate(episode.states):
        grip = ("open" if episode.deltas[t, 3] == 1.0 else "closed") if t < episode.n_steps else "-"
        lines.append(f"t={t} x={s[0]:.4f} y={s[1]:.4f} z={s[2]:.4f} gripper={grip}")
    return "\n".join(lines)


def prompt_text(episode: Episode, frames: Sequence[int]) -> str:
    n = episode.n_steps
    return (
        "You annotate a robot teleoperation episode to train a robot policy.\n"
        f"Instruction: {episode.instruction}\n"
        "The robot is a WidowX arm. Positions are of the gripper in the robot base frame, in metres: +x forward "
        "(away from the base), +y left, +z up. 'gripper' is the gripper command from state t to t+1.\n"
        f"The trajectory has {n + 1} states, t = 0..{n}:\n{trajectory_text(episode)}\n"
        f"The images show the scene at states {', '.join(map(str, frames))}, in that order.\n"
        "Split the episode into consecutive steps (usually 3 to 8 sub-tasks). Cut where the gripper closes or "
        "opens and where the motion changes phase (reaching, lifting, carrying, lowering). For each step give: "
        "first_state and last_state (the first step starts at 0, each step starts where the previous one ended, "
        f"the last step ends at {n}); subtask, a short imperative phrase naming the object (e.g. 'reach the "
        "carrot', 'grasp the carrot', 'lift the carrot', 'move the carrot to the pot', 'place the carrot in the "
        "pot'); motion_plan, direction words only (e.g. 'move down and slightly forward'); and forward_cm, left_cm, "
        "up_cm, the gripper's net displacement over the step (state[last_state] - state[first_state], in cm).\n"
        "Answer with JSON only."
    )


@dataclass
class Request:
    prompt: str
    frames: list[int]
    images: list[bytes]
    key: str  # content hash: the cache key


def build_request(episode: Episode, spec: GeminiSpec) -> Request:
    frames = key_frames(episode, spec.max_key_frames)
    images = [episode.image_paths[t].read_bytes() for t in frames]
    prompt = prompt_text(episode, frames)
    h = hashlib.sha256()
    h.update(json.dumps({"v": CACHE_VERSION, "model": spec.model, "temperature": spec.temperature,
                         "schema": GeminiDecomposition.model_json_schema(), "prompt": prompt},
                        sort_keys=True).encode())
    for img in images:
        h.update(hashlib.sha256(img).digest())
    return Request(prompt, frames, images, h.hexdigest())


# ---------------------------------------------------------------------------------------------------- answer
def parse_answer(text: str | None) -> GeminiDecomposition:
    if not text or not text.strip():
        raise AnswerError("empty_response", "the model returned no text")
    try:
        return GeminiDecomposition.model_validate_json(text)
    except ValidationError as e:
        first = e.errors()[0]
        raise AnswerError("invalid_json", f"{first['type']} at {list(first['loc'])}: {first['msg']}") from e


def check_answer(answer: GeminiDecomposition, episode: Episode, tolerance_cm: float) -> list[Segment]:
    """Segments of a consistent answer; `AnswerError` naming the first disagreement otherwise."""
    segments = [Segment(s.first_state, s.last_state, s.subtask) for s in answer.steps]
    try:
        check_segments(segments, episode.n_steps)
    except SegmentError as e:
        raise AnswerError("bad_boundaries", str(e)) from e
    for i, s in enumerate(answer.steps):
        real = 100 * episode.displacement(s.first_state, s.last_state)
        said = np.array([s.forward_cm, s.left_cm, s.up_cm])
        gap = np.abs(real - said)
        if not np.all(np.isfinite(said)) or gap.max() > tolerance_cm:
            axis = ("forward", "left", "up")[int(np.argmax(gap))]
            raise AnswerError("displacement_mismatch",
                              f"step {i} ({s.subtask!r}) says {axis} {said[np.argmax(gap)]:.1f} cm, the trajectory "
                              f"moved {real[np.argmax(gap)]:.1f} cm (tolerance {tolerance_cm} cm)")
    total = 100 * episode.displacement()
    said_total = np.array([[s.forward_cm, s.left_cm, s.up_cm] for s in answer.steps]).sum(axis=0)
    if np.abs(total - said_total).max() > tolerance_cm:
        raise AnswerError("displacement_mismatch", f"steps sum to {said_total.round(1).tolist()} cm, the episode "
                                                   f"moved {total.round(1).tolist()} cm")
    return segments


# ---------------------------------------------------------------------------------------------------- client
def make_client(spec: GeminiSpec, api_key: str | None = None, httpx_client: Any = None) -> Any:
    """A `google.genai.Client` whose requests retry with backoff (SDK `HttpRetryOptions`) and time out."""
    try:
        from google import genai
        from google.genai import types
    except ImportError as e:
        raise GeminiSetupError("the Gemini annotator needs google-genai: pip install -e '.[gemini]' "
                               "(or make setup-all), or build with --annotator rules") from e
    key = api_key or os.environ.get(API_KEY_ENV)
    if not key:
        raise GeminiSetupError(f"{API_KEY_ENV} is not set: export {API_KEY_ENV}=<your key from "
                               "https://aistudio.google.com/apikey>, or build offline with --annotator rules")
    retry = types.HttpRetryOptions(attempts=spec.retry_attempts, initial_delay=spec.retry_initial_delay_s,
                                   max_delay=spec.retry_max_delay_s, exp_base=2.0, jitter=1.0,
                                   http_status_codes=[408, 429, 500, 502, 503, 504])
    extra = {"httpx_client": httpx_client} if httpx_client is not None else {}
    options = types.HttpOptions(timeout=int(spec.timeout_s * 1000), retry_options=retry, **extra)
    return genai.Client(api_key=key, http_options=options)


def _usage_tokens(response: Any) -> dict[str, int]:
    meta = getattr(response, "usage_metadata", None)
    if meta is None:
        return {"prompt": 0, "output": 0}
    prompt = int(getattr(meta, "prompt_token_count", 0) or 0)
    output = int(getattr(meta, "candidates_token_count", 0) or 0) + int(getattr(meta, "thoughts_token_count", 0) or 0)
    return {"prompt": prompt, "output": output}


def _error_code(exc: BaseException) -> str:
    """A short code for an exception from the client (after the SDK gave up retrying)."""
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return f"api_{code}"
    name = type(exc).__name__.lower()
    return "timeout" if "timeout" in name else "api_error"


class GeminiAnnotator:
    """Annotate episodes with Gemini; fall back to `rules` for any episode whose answer cannot be used."""

    name = "gemini"

    def __init__(self, decomposition: DecompositionSpec, spec: GeminiSpec | None = None,
                 rules: RulesSpec | None = None, client: Any = None, cache: str | Path | None = None):
        self.decomposition = decomposition
        self.spec = spec or GeminiSpec()
        self.rules = RulesAnnotator(decomposition, rules)
        self.client = client if client is not None else make_client(self.spec)
        self.cache = Path(cache or self.spec.cache_dir or cache_dir() / "gemini-annotations")
        self.usage = GeminiUsage()

    # -------------------------------------------------------------- cache
    def _cache_path(self, key: str) -> Path:
        return self.cache / key[:2] / f"{key}.json"

    def _cached(self, key: str) -> dict[str, Any] | None:
        path = self._cache_path(key)
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def _drop(self, key: str) -> None:
        self._cache_path(key).unlink(missing_ok=True)

    def _store(self, key: str, entry: dict[str, Any]) -> None:
        atomic_write_text(self._cache_path(key), json.dumps(entry), unique=True)  # worker threads share keys

    # -------------------------------------------------------------- one episode
    def _call(self, request: Request) -> dict[str, Any]:
        from google.genai import types

        parts = [types.Part.from_bytes(data=img, mime_type="image/jpeg") for img in request.images]
        response = self.client.models.generate_content(
            model=self.spec.model,
            contents=[*parts, request.prompt],
            config=types.GenerateContentConfig(response_mime_type="application/json",
                                               response_schema=GeminiDecomposition,
                                               temperature=self.spec.temperature),
        )
        return {"text": response.text, "tokens": _usage_tokens(response), "model": self.spec.model}

    def annotate(self, episode: Episode) -> tuple[Decomposition, dict[str, Any]]:
        """The episode's decomposition and what it cost: {'cached', 'tokens', 'key'}."""
        request = build_request(episode, self.spec)
        info: dict[str, Any] = {"key": request.key[:16], "cached": False, "tokens": {"prompt": 0, "output": 0}}
        entry = self._cached(request.key)
        if entry is not None:
            try:
                answer, segments = self._validate(entry, episode)
            except AnswerError:  # cached by an older version, or checked more strictly now: ask again
                self.usage.count("invalid_cached")
                self._drop(request.key)
                entry = None
            else:
                info["cached"] = True
                self.usage.add(entry.get("tokens", {}), cached=True, spec=self.spec)
        if entry is None:
            try:
                entry = self._call(request)
            except Exception as e:  # anything the SDK raises after its retries: this episode falls back
                self.usage.api_error()
                return self._fallback(episode, _error_code(e), f"{type(e).__name__}: {e}"), info
            self.usage.add(entry["tokens"], cached=False, spec=self.spec)
            try:
                answer, segments = self._validate(entry, episode)
            except AnswerError as e:  # billed, but not cached: a re-run asks again
                info["tokens"] = entry.get("tokens", {})
                return self._fallback(episode, e.code, e.detail), info
            self._store(request.key, entry)
        info["tokens"] = entry.get("tokens", {})
        dec = build_steps(episode, segments, self.decomposition, "gemini")
        if self.spec.use_plans:
            self._use_plans(dec, answer, episode)
        return dec, info

    def _validate(self, entry: dict[str, Any], episode: Episode) -> tuple[GeminiDecomposition, list[Segment]]:
        answer = parse_answer(entry.get("text"))
        return answer, check_answer(answer, episode, self.spec.displacement_tolerance_cm)

    def _use_plans(self, dec: Decomposition, answer: GeminiDecomposition, episode: Episode) -> None:
        """Gemini's plan for each step that agrees with its chunk; the rule plan (already set) and a count otherwise.
        A gripper action the plan leaves out is appended in the plan language ("..., then close gripper")."""
        for step, said in zip(dec.steps, answer.steps, strict=True):
            proposed = " ".join(said.motion_plan.split())
            previous = float(episode.deltas[step.start - 1, 3]) if step.start > 0 else None
            if not proposed or plan_disagreement(proposed, step.chunk, self.decomposition.plan, previous):
                dec.plan_disagreements += 1
                continue
            event = gripper_event(step.chunk, previous)
            if event and not named_gripper_events(proposed):
                proposed = f"{proposed}, then {event}" if named_directions(proposed) else event
            step.plan = proposed
            self.usage.count("plans_used")
        self.usage.count("plan_disagreements", dec.plan_disagreements)

    def _fallback(self, episode: Episode, code: str, detail: str) -> Decomposition:
        self.usage.fallback(code)
        dec = self.rules.annotate(episode)
        dec.annotator, dec.fallback_reason = "gemini->rules", f"{code}: {detail}"[:300]
        return dec

    def _annotate_one(self, episode: Episode) -> tuple[Decomposition | None, dict[str, Any]]:
        result, error = annotate_safely(self.annotate, episode)
        return result if result is not None else (None, {"error": error})

    def annotate_many(self, episodes: Sequence[Episode]) -> list[tuple[Decomposition | None, dict[str, Any]]]:
        """Annotate with at most `concurrency` requests in flight; results in input order (None + info['error']
        for an episode that could not be annotated at all)."""
        if len(episodes) <= 1 or self.spec.concurrency == 1:
            return [self._annotate_one(e) for e in episodes]
        with ThreadPoolExecutor(max_workers=min(self.spec.concurrency, len(episodes))) as pool:
            return list(pool.map(self._annotate_one, episodes))

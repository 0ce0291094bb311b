"""The VLM2VLA policy: the paper's hierarchical factorisation, prompted with the training templates.

    start(instruction, o_0):  sub-tasks l_1..l_N <- subtasks_prompt(instruction) on the first image (once)
    act(o_i):                 plan m_i  <- plan_prompt(instruction, l_k) on the current image
                              chunk a_i <- action_prompt(instruction, l_k, m_i) on the same image
    advance(decision):        proceed -> l_{k+1}; retry -> l_k again, at most `max_retries_per_subtask` times

Sampling per stage comes from the model spec (`generation`: top-p 0.95; T 0.5 sub-tasks, 1.0 out of distribution,
0.1 plans, 0.5 actions), seeded per trial, cycle and stage so a trial is reproducible. The action chunk is decoded
under the representation's grammar unless `generation.constrained_actions` is false (the motion plan under the plan
language unless `generation.constrained_plans` is false, the sub-tasks as a bounded numbered list unless
`generation.constrained_subtasks` is false); unconstrained text that does not parse gives `chunk=None`
and the parse error (nothing moves). Every stage's text and its cost (wall time,
forward passes, prefill and generated tokens) go into the `CycleOutput` the trial runner logs. A chunk that a bound
ended (the action token budget ran out, or the grammar's `generation.max_action_steps` was reached) is logged as a
warning naming the key and counted in the stats (`action_truncated` 1.0), so trials record it in cycles.jsonl.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from harness.actions import ActionParseError
from harness.data import templates as T
from harness.models.codec import action_codec
from harness.models.least_likely import least_likely_tokens
from harness.policy.base import CycleOutput, Decision, Observation, SubtaskListPolicy
from harness.policy.decoding import FastGenerator, StageGenerator, StageResult, derive_seed
from harness.policy.grammar import action_lark, plan_lark, subtasks_lark

if TYPE_CHECKING:
    from PIL import Image

    from harness.models.loaded import LoadedModel

log = logging.getLogger(__name__)


def to_image(observation: Observation) -> Image.Image:
    from PIL import Image

    return Image.fromarray(np.ascontiguousarray(observation.image).astype(np.uint8)).convert("RGB")


class VLM2VLAPolicy(SubtaskListPolicy):
    """Sub-tasks once, then per cycle a motion plan and an action chunk (see the module doc)."""

    def __init__(self, loaded: LoadedModel, generator: StageGenerator | None = None, *,
                 constrained: bool | None = None, name: str | None = None):
        self.loaded = loaded
        self.spec = loaded.spec
        g = self.spec.generation
        self.generator = generator if generator is not None else FastGenerator.from_spec(loaded)
        self.constrained = g.constrained_actions if constrained is None else constrained
        self.codec = action_codec(loaded)
        self.grammar: str | None = None
        self.plan_grammar: str | None = plan_lark() if self.constrained and g.constrained_plans else None
        self.subtasks_grammar: str | None = (subtasks_lark(self.spec.policy.max_subtasks)
                                             if self.constrained and g.constrained_subtasks else None)
        if self.constrained:
            action_spec = loaded.action_spec()
            tokens = least_likely_tokens(loaded) if action_spec.type == "least_likely" else None
            self.grammar = action_lark(action_spec, tokens, g.max_action_steps)
        self.name = name or self.spec.name
        self.instruction = ""
        self.subtasks: list[str] = []
        self._index: int | None = None
        self._attempt = 0  # retries of the current sub-task so far
        self._trial = -1
        self._cycle = 0
        self._carry_texts: dict[str, str] = {}
        self._carry_stats: dict[str, float] = {}

    def reset_trials(self, first: int = 0) -> None:
        """Number the next trial `first` (0: its seeds repeat those of the first trial)."""
        self._trial = first - 1

    # ---------------------------------------------------------------- stages
    def _seed(self, stage: str) -> int:
        return derive_seed(self.spec.generation.seed, self._trial, self._cycle, stage)

    def start(self, instruction: str, observation: Observation, out_of_distribution: bool = False) -> list[str]:
        g = self.spec.generation
        self._trial += 1
        self._cycle = 0
        self.instruction = instruction
        sampling = replace(g.subtasks, temperature=g.subtasks_ood_temperature) if out_of_distribution else g.subtasks
        res = self.generator.generate(T.subtasks_prompt(instruction), [to_image(observation)], sampling,
                                      self._seed("subtasks"), grammar=self.subtasks_grammar)
        subtasks = T.parse_subtasks(res.text)[: self.spec.policy.max_subtasks]
        if not subtasks:
            log.warning("%s: no sub-task in %r; using the instruction as the only sub-task", self.name, res.text)
            subtasks = [instruction]
        self.subtasks, self._index, self._attempt = subtasks, 0, 0
        self._carry_texts = {"subtasks": res.text}
        self._carry_stats = res.stats("subtasks")
        return list(subtasks)

    def act(self, observation: Observation) -> CycleOutput:
        subtask = self.current_subtask
        if subtask is None:
            raise RuntimeError("act() called before start() or after the last sub-task")
        g = self.spec.generation
        t0 = time.perf_counter()
        image = to_image(observation)
        plan_res = self.generator.generate(T.plan_prompt(self.instruction, subtask), [image], g.plan,
                                           self._seed("plan"), grammar=self.plan_grammar)
        plan = plan_res.text.strip()
        action_res = self.generator.generate(T.action_prompt(self.instruction, subtask, plan), [image], g.action,
                                             self._seed("action"), grammar=self.grammar)
        try:
            chunk, error = self.codec.decode(action_res.text), None
        except ActionParseError as e:
            chunk, error = None, str(e)
        if self.grammar is not None and chunk is not None and len(chunk) >= g.max_action_steps:
            action_res = replace(action_res, step_bound=True)  # the grammar allowed no further step
        if action_res.cut:
            self._warn_cut(action_res, len(chunk) if chunk is not None else 0)
        stages = [plan_res, action_res]
        texts = {**self._carry_texts, "plan": plan_res.text, "action": action_res.text}
        stats = {**self._carry_stats, **plan_res.stats("plan"), **action_res.stats("action"),
                 **StageResult.totals(stages), "latency_s": time.perf_counter() - t0, "attempt": float(self._attempt + 1),
                 "constrained": float(self.grammar is not None)}
        self._carry_texts, self._carry_stats = {}, {}
        self._cycle += 1
        return CycleOutput(subtask, plan, action_res.text, chunk, error, texts, stats)

    def _warn_cut(self, res: StageResult, steps: int) -> None:
        """Say that a bound ended the chunk, and which key raises it (the steps after it are never executed)."""
        g = self.spec.generation
        if res.truncated:
            why = f"the token budget (generation.action.max_new_tokens: {g.action.max_new_tokens}) ran out"
        else:
            why = f"it reached the step bound (generation.max_action_steps: {g.max_action_steps})"
        log.warning("%s: action chunk cut at %d step(s) because %s; raise that key in the model spec if chunks "
                    "should be longer", self.name, steps, why)

    # ---------------------------------------------------------------- the loop
    def advance(self, decision: Decision) -> None:
        if self._index is None:
            raise RuntimeError("advance() called before start()")
        if decision.action == "proceed":
            self._index, self._attempt = self._index + 1, 0
            return
        self._attempt += 1
        if self._attempt > self.spec.policy.max_retries_per_subtask:
            log.warning("%s: sub-task %r retried %d times; moving on", self.name, self.current_subtask,
                        self._attempt - 1)
            self._carry_stats["retries_exhausted"] = 1.0
            self._carry_texts["note"] = (f"sub-task {self.current_subtask!r} given up after "
                                         f"{self._attempt - 1} retries (policy.max_retries_per_subtask)")
            self._index, self._attempt = self._index + 1, 0



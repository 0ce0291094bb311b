"""A policy that replays fixed sub-task, plan and action texts: dry runs, tests and the demo without a model.

The texts go through the same action codec as a model's output, so a malformed line in a script is a real parse
failure (nothing moves) and an over-long step is really split and checked by the envelope. Script (YAML):

    subtasks:
      - subtask: reach the object
        cycles:                       # one per `act`; a retry moves to the next, the last one repeats
          - {plan: move forward and down, action: "move sideways 3 cm"}     # malformed on purpose
          - {plan: move forward and down, action: "move forward 2.0 cm, move down 7.5 cm, open gripper"}
      - subtask: grasp the object
        cycles: [{plan: close gripper, action: close gripper}]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.actions import ActionParseError, make_codec
from harness.actions.codec import ActionCodec
from harness.paths import experiments_dir
from harness.policy.base import CycleOutput, Decision, Observation, Policy
from harness.specs import load_actions
from harness.specs.model import ModelSpec


@dataclass(frozen=True)
class ScriptedCycle:
    plan: str
    action: str


@dataclass(frozen=True)
class ScriptedSubtask:
    subtask: str
    cycles: tuple[ScriptedCycle, ...]


DEFAULT_SCRIPT: tuple[ScriptedSubtask, ...] = (
    ScriptedSubtask("reach the object", (
        ScriptedCycle("move forward and down", "move sideways 3 cm"),  # malformed: a parse failure
        ScriptedCycle("move down and slightly forward", "move forward 2.0 cm, move down 7.5 cm, open gripper"),
    )),
    ScriptedSubtask("grasp the object", (ScriptedCycle("close gripper", "close gripper"),)),
    ScriptedSubtask("lift the object", (
        ScriptedCycle("move up and forward", "move up 6.0 cm; move forward 40.0 cm"),  # clipped at the box edge
    )),
)


def load_script(path: str | Path) -> tuple[ScriptedSubtask, ...]:
    """Read a script file (relative paths are under experiments/); errors name the file and the key."""
    p = Path(path)
    if not p.is_absolute():
        p = experiments_dir() / p
    try:
        raw = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"{p}: cannot read the policy script: {e}") from e
    items = raw.get("subtasks") if isinstance(raw, dict) else None
    if not isinstance(items, list) or not items:
        raise ValueError(f"{p}: key 'subtasks' must be a non-empty list of {{subtask, cycles}}")
    out = []
    for i, item in enumerate(items):
        cycles = item.get("cycles") if isinstance(item, dict) else None
        if not isinstance(item, dict) or not isinstance(item.get("subtask"), str) or not isinstance(cycles, list) \
                or not cycles:
            raise ValueError(f"{p}: key 'subtasks[{i}]' needs a 'subtask' text and a non-empty 'cycles' list")
        parsed = []
        for j, c in enumerate(cycles):
            if not isinstance(c, dict) or not isinstance(c.get("action"), str):
                raise ValueError(f"{p}: key 'subtasks[{i}].cycles[{j}]' needs an 'action' text")
            parsed.append(ScriptedCycle(str(c.get("plan", "")), c["action"]))
        out.append(ScriptedSubtask(item["subtask"], tuple(parsed)))
    return tuple(out)


class ScriptedPolicy(Policy):
    name = "scripted"

    def __init__(self, script: tuple[ScriptedSubtask, ...] = DEFAULT_SCRIPT, codec: ActionCodec | None = None):
        if not script:
            raise ValueError("a scripted policy needs at least one sub-task")
        self.script = script
        self.codec = codec if codec is not None else make_codec(load_actions("verbalized"))
        self._subtask: int | None = None
        self._cycle = 0

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> ScriptedPolicy:
        script = load_script(spec.script) if spec.script else DEFAULT_SCRIPT
        policy = cls(script, make_codec(load_actions(spec.action_repr)))
        policy.name = spec.name
        return policy

    def start(self, instruction: str, observation: Observation, out_of_distribution: bool = False) -> list[str]:
        self._subtask, self._cycle = 0, 0
        return [s.subtask for s in self.script]

    def act(self, observation: Observation) -> CycleOutput:
        if self._subtask is None or self._subtask >= len(self.script):
            raise RuntimeError("act() called before start() or after the last sub-task")
        sub = self.script[self._subtask]
        cycle = sub.cycles[min(self._cycle, len(sub.cycles) - 1)]
        texts = {"subtask": sub.subtask, "plan": cycle.plan, "action": cycle.action}
        try:
            chunk, error = self.codec.decode(cycle.action), None
        except ActionParseError as e:
            chunk, error = None, str(e)
        return CycleOutput(sub.subtask, cycle.plan, cycle.action, chunk, error, texts, {"latency_s": 0.0})

    def advance(self, decision: Decision) -> None:
        if self._subtask is None:
            raise RuntimeError("advance() called before start()")
        if decision.action == "proceed":
            self._subtask += 1
            self._cycle = 0
        else:
            self._cycle += 1

    @property
    def current_subtask(self) -> str | None:
        if self._subtask is None or self._subtask >= len(self.script):
            return None
        return self.script[self._subtask].subtask

    @property
    def next_subtask(self) -> str | None:
        if self._subtask is None or self._subtask + 1 >= len(self.script):
            return None
        return self.script[self._subtask + 1].subtask

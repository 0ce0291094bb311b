"""The offline annotator: sub-tasks from gripper events and motion phases, named from the instruction.

Deterministic and free, so it is the default and the fallback of the Gemini annotator. An episode is cut where the
gripper closes or opens, and the time the gripper holds something is cut again into motion phases (up, down,
sideways/forward); tiny phases and pauses are absorbed by their neighbours. Names follow the instruction:

    put the carrot in the pot -> reach the carrot | grasp the carrot | lift the carrot | move the carrot to the pot
                                 | place the carrot in the pot | move away from the pot

Episodes without a grasp (wiping, pushing, opening) are cut into motion phases named by direction
("move the gripper left and slightly down").
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.actions import direction_words, merge_deltas
from harness.data.bridge import Episode
from harness.data.decomposition import (
    Decomposition,
    Segment,
    annotate_safely,
    build_steps,
    merge_same_names,
)
from harness.specs.actions import DecompositionSpec
from harness.specs.data import RulesSpec

# ---------------------------------------------------------------------------------------------------- instruction
_RELATIONS = {
    "in": "in", "into": "in", "inside": "in", "in to": "in", "on": "on", "onto": "on", "on top of": "on",
    "to": "at", "towards": "at", "toward": "at", "at": "at", "next to": "next to", "near": "next to",
    "beside": "next to", "in front of": "in front of", "behind": "behind", "under": "under",
}
_REL = "|".join(sorted((re.escape(r) for r in _RELATIONS), key=len, reverse=True))
_PLACE = re.compile(rf"^(?:put|place|move|set|drop|transfer|bring|stack|lay|slide|push|take)\s+(?P<x>.+?)\s+"
                    rf"(?P<rel>{_REL})\s+(?P<y>.+)$")
_REMOVE = re.compile(r"^(?:take|remove|get|pull)\s+(?P<x>.+?)\s+(?:out of|off of|off|from)\s+(?P<y>.+)$")
_PICK = re.compile(r"^(?:pick up|pick|lift up|lift|grab|grasp|take|get|hold|raise)\s+(?P<x>.+?)(?:\s+up)?$")
_VERB_OBJECT = re.compile(r"^[a-z]+\s+(?P<x>.+)$")
_DETERMINERS = ("the ", "a ", "an ", "this ", "that ", "some ", "one ", "two ", "three ", "it", "them")


@dataclass(frozen=True)
class TaskWords:
    target: str  # "the carrot"
    destination: str = ""  # "the pot" ('' when the instruction names none)
    relation: str = ""  # in | on | at | next to | ...


def _noun_phrase(text: str) -> str:
    text = text.strip(" .,!;:")
    return text if text.startswith(_DETERMINERS) else f"the {text}"


def parse_instruction(instruction: str) -> TaskWords:
    """What is manipulated and where it goes, from the wording of common Bridge instructions."""
    text = " ".join(instruction.lower().replace(",", " ").split()).strip(" .!")
    text = re.sub(r"^(?:please|robot|now)\s+", "", text)
    if m := _PLACE.match(text):
        return TaskWords(_noun_phrase(m["x"]), _noun_phrase(m["y"]), _RELATIONS[m["rel"]])
    if m := _REMOVE.match(text):
        return TaskWords(_noun_phrase(m["x"]))
    if m := _PICK.match(text):
        return TaskWords(_noun_phrase(m["x"]))
    if m := _VERB_OBJECT.match(text):
        return TaskWords(_noun_phrase(m["x"]))
    return TaskWords("the object")


# ---------------------------------------------------------------------------------------------------- phases
@dataclass
class _Run:
    label: str  # still | up | down | move
    start: int
    end: int


def _label(d: np.ndarray, still_m: float) -> str:
    h, v = math.hypot(d[0], d[1]), d[2]
    if max(h, abs(v)) < still_m:
        return "still"
    if abs(v) >= h:
        return "up" if v > 0 else "down"
    return "move"


def _merge_equal(runs: list[_Run]) -> list[_Run]:
    out: list[_Run] = []
    for r in runs:
        if out and out[-1].label == r.label:
            out[-1].end = r.end
        else:
            out.append(_Run(r.label, r.start, r.end))
    return out


def motion_phases(deltas: np.ndarray, start: int, end: int, spec: RulesSpec) -> list[_Run]:
    """Runs of up / down / move over deltas[start:end]; pauses and phases shorter than min_phase_cm absorbed."""
    if end <= start:
        return []
    still_m, min_m = spec.still_cm / 100, spec.min_phase_cm / 100
    runs = _merge_equal([_Run(_label(deltas[t], still_m), t, t + 1) for t in range(start, end)])
    moving = [r for r in runs if r.label != "still"]
    if not moving:
        return [_Run("still", start, end)]
    merged: list[_Run] = []  # pauses join the phase before them (the first pause joins the phase after it)
    for r in runs:
        if r.label == "still" and merged:
            merged[-1].end = r.end
        elif r.label == "still":
            continue
        else:
            if not merged and r.start > start:
                r = _Run(r.label, start, r.end)
            merged.append(r)
    runs = _merge_equal(merged)

    def size(r: _Run) -> float:
        return float(np.linalg.norm(deltas[r.start : r.end, :3].sum(axis=0)))

    while len(runs) > 1:
        small = [i for i, r in enumerate(runs) if size(r) < min_m]
        if not small:
            break
        i = min(small, key=lambda k: size(runs[k]))
        left = runs[i - 1] if i > 0 else None
        right = runs[i + 1] if i + 1 < len(runs) else None
        into = left if right is None or (left is not None and size(left) >= size(right)) else right
        into.start, into.end = min(into.start, runs[i].start), max(into.end, runs[i].end)
        del runs[i]
        runs = _merge_equal(runs)
    return runs


def _leading_still(deltas: np.ndarray, start: int, end: int, still_m: float) -> int:
    """End of the gripper event: the pause at the start of a run (at least one delta)."""
    t = start + 1
    while t < end and math.hypot(*deltas[t, :3]) < still_m:
        t += 1
    return t


def _gripper_runs(deltas: np.ndarray) -> list[tuple[float, int, int]]:
    runs: list[tuple[float, int, int]] = []
    for t, g in enumerate(deltas[:, 3]):
        if runs and runs[-1][0] == g:
            runs[-1] = (g, runs[-1][1], t + 1)
        else:
            runs.append((float(g), t, t + 1))
    return runs


# ---------------------------------------------------------------------------------------------------- annotator
class RulesAnnotator:
    """Gripper events + motion phases -> named segments -> steps (chunks by the merge rule, plans from chunks)."""

    name = "rules"

    def __init__(self, decomposition: DecompositionSpec, spec: RulesSpec | None = None):
        self.decomposition = decomposition
        self.spec = spec or RulesSpec()

    def segments(self, episode: Episode) -> list[Segment]:
        words = parse_instruction(episode.instruction)
        x, y, rel = words.target, words.destination, words.relation
        d = episode.deltas
        still_m = self.spec.still_cm / 100
        gruns = _gripper_runs(d)
        grasps = [k for k in range(1, len(gruns)) if gruns[k][0] == 0.0 and gruns[k - 1][0] == 1.0]
        if not grasps:
            return merge_same_names(self._generic(d, 0, len(d)))

        segs: list[Segment] = []
        pending_place: int | None = None  # start of a final lowering phase, finished by the release
        for k, (g, s, e) in enumerate(gruns):
            later_grasp = any(j > k for j in grasps)
            if k < grasps[0]:  # everything before the first grasp is reaching (opening a closed gripper too)
                segs.append(Segment(s, e, f"reach {x}"))
            elif g == 0.0:  # the gripper closes at s
                grasp_end = _leading_still(d, s, e, still_m)
                segs.append(Segment(s, grasp_end, f"grasp {x}"))
                phases = motion_phases(d, grasp_end, e, self.spec)
                releases = k + 1 < len(gruns)
                for i, ph in enumerate(phases):
                    if releases and i == len(phases) - 1 and ph.label == "down":
                        pending_place = ph.start
                    else:
                        segs.append(Segment(ph.start, ph.end, self._holding_name(ph.label, x, y)))
            else:  # the gripper opens at s: the object is released
                release_end = _leading_still(d, s, e, still_m)
                place = f"place {x} {rel} {y}" if y else (f"put down {x}" if pending_place is not None
                                                          else f"release {x}")
                segs.append(Segment(pending_place if pending_place is not None else s, release_end, place))
                pending_place = None
                if release_end < e:
                    after = f"reach {x}" if later_grasp else (f"move away from {y}" if y else "move the gripper away")
                    segs.append(Segment(release_end, e, after))
        return merge_same_names(segs)

    @staticmethod
    def _holding_name(label: str, x: str, y: str) -> str:
        if label == "up":
            return f"lift {x}"
        if label == "down":
            return f"lower {x}"
        if label == "move":
            return f"move {x} to {y}" if y else f"move {x}"
        return f"hold {x}"

    def _generic(self, d: np.ndarray, start: int, end: int) -> list[Segment]:
        segs = []
        for ph in motion_phases(d, start, end, self.spec):
            words = direction_words(merge_deltas(d[ph.start : ph.end], self.decomposition.merge),
                                    self.decomposition.plan)
            name = ("move the gripper " + (words[0] if len(words) == 1 else
                                           ", ".join(words[:-1]) + " and " + words[-1])) if words else "wait"
            segs.append(Segment(ph.start, ph.end, name))
        return segs

    def annotate(self, episode: Episode) -> Decomposition:
        return build_steps(episode, self.segments(episode), self.decomposition, self.name)

    def annotate_many(self, episodes: Sequence[Episode]) -> list[tuple[Decomposition | None, dict]]:
        """Same interface as the Gemini annotator: (decomposition or None, info) per episode; info['error'] says
        why an episode could not be annotated."""
        out: list[tuple[Decomposition | None, dict]] = []
        for e in episodes:
            dec, error = annotate_safely(self.annotate, e)
            out.append((dec, {"error": error} if error else {}))
        return out

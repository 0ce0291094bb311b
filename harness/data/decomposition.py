"""An episode's decomposition into N steps (ō_i, l_i, m_i, ā_i), shared by every annotator.

An annotator only decides *where* the steps are and *what they are called*: a list of `Segment`s that cover the
episode's deltas contiguously. The action chunk of a step is always the merge rule over the real relabelled deltas
of its segment, and its motion plan is always derived from that chunk, so chunks add up exactly to where the arm
went and the verbalized and least-likely representations are two writings of one and the same decomposition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from harness.actions import ActionChunk, displacement, merge_deltas, motion_plan
from harness.data.bridge import Episode
from harness.specs.actions import DecompositionSpec


@dataclass(frozen=True)
class Segment:
    start: int  # first delta of the step = index of its initial state and image ō_i
    end: int  # one past its last delta = index of the state and image where it ends
    subtask: str


@dataclass
class Step:
    start: int
    end: int
    subtask: str  # l_i
    plan: str  # m_i
    chunk: ActionChunk  # ā_i


@dataclass
class Decomposition:
    steps: list[Step]
    annotator: str  # rules | gemini | gemini->rules
    fallback_reason: str = ""  # why the Gemini answer was not used (gemini->rules only)
    plan_disagreements: int = 0  # annotator plans replaced by the rule plan (they named other directions)

    @property
    def subtasks(self) -> list[str]:
        return [s.subtask for s in self.steps]


class SegmentError(ValueError):
    """Segments that do not cover the episode contiguously, or a step without a name."""


def check_segments(segments: Sequence[Segment], n_deltas: int) -> None:
    if not segments:
        raise SegmentError("no steps")
    expected = 0
    for i, seg in enumerate(segments):
        if seg.start != expected:
            raise SegmentError(f"step {i} starts at {seg.start}, expected {expected} (steps must be contiguous)")
        if seg.end <= seg.start:
            raise SegmentError(f"step {i} is empty ({seg.start}..{seg.end})")
        if not seg.subtask.strip():
            raise SegmentError(f"step {i} has no sub-task description")
        expected = seg.end
    if expected != n_deltas:
        raise SegmentError(f"the steps end at {expected}, the episode has {n_deltas} steps")


def merge_same_names(segments: Sequence[Segment]) -> list[Segment]:
    """Adjacent steps with the same description become one."""
    out: list[Segment] = []
    for seg in segments:
        if out and out[-1].subtask == seg.subtask:
            out[-1] = Segment(out[-1].start, seg.end, seg.subtask)
        else:
            out.append(seg)
    return out


def build_steps(episode: Episode, segments: Sequence[Segment], spec: DecompositionSpec,
                annotator: str, fallback_reason: str = "") -> Decomposition:
    """Chunks by the merge rule over each segment's real deltas; plans from the chunks."""
    check_segments(segments, episode.n_steps)
    steps = []
    for seg in segments:
        chunk = merge_deltas(episode.deltas[seg.start : seg.end], spec.merge)
        previous = float(episode.deltas[seg.start - 1, 3]) if seg.start > 0 else None
        steps.append(Step(seg.start, seg.end, seg.subtask.strip(), motion_plan(chunk, spec.plan, previous), chunk))
    return Decomposition(steps, annotator, fallback_reason)


def chunks_on_any_reversal(episode: Episode, decomposition: Decomposition,
                           spec: DecompositionSpec) -> list[ActionChunk]:
    """Each step's chunk as it would be with `reversal_cm: 0` (every sign change splits a step): the baseline the
    dataset card compares the jitter threshold with."""
    merge = replace(spec.merge, reversal_cm=0.0)
    return [merge_deltas(episode.deltas[s.start : s.end], merge) for s in decomposition.steps]


def chunk_displacement_error(decomposition: Decomposition, episode: Episode) -> float:
    """Largest per-axis gap (m) between the chunks' sum and the episode's net displacement (0 up to rounding)."""
    total = np.array([displacement(s.chunk) for s in decomposition.steps]).sum(axis=0)
    return float(np.max(np.abs(total - episode.displacement())))


def annotate_safely(annotate: Callable[[Episode], Any], episode: Episode) -> tuple[Any, str]:
    """(result, '') or (None, 'Error: message'): odd data or a bug in one episode must not stop a long build; the
    builder skips the episode as `annotation_failed` with this message."""
    try:
        return annotate(episode), ""
    except Exception as e:  # noqa: BLE001 - recorded per episode, never swallowed silently
        return None, f"{type(e).__name__}: {e}"

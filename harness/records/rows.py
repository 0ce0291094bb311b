"""Row types of the result CSVs (field order = column order). Paths are relative to the repository root."""

from __future__ import annotations

from dataclasses import dataclass

# The `model` of VQA rows that score a constant answer (every question answered the same, e.g. "Yes"): VLMEvalKit
# scores a prediction file of that answer beside each model's, so every reading has its chance level next to it.
CHANCE_MODEL = "chance"


@dataclass
class VQAScoreRow:
    """results/vqa/scores.csv: one row per (model, benchmark, metric) of a VQA run."""

    model: str
    suite: str
    benchmark: str  # VLMEvalKit dataset name
    label: str  # table column (MMB-en, ...)
    metric: str  # e.g. Overall, perception, reasoning, acc, anls
    score: float
    scale: str  # "%", "/2800", "/1000"
    judge: str
    n: int
    date: str  # ISO 8601
    git_sha: str
    run_dir: str
    env: str = ""  # environment fingerprint hash (records.environment; full record in environments.json)


@dataclass
class TrialRow:
    """results/robot/trials.csv (export of the SQLite trial log): one row per scored trial."""

    session_id: str
    task: str
    model: str
    robot: str
    operator: str  # human | auto
    blind_label: str  # "policy A" etc. as the operator saw it
    schedule_seed: int
    trial_index: int
    instruction: str
    language: str
    outcome: str  # success | failure | invalid (redo; not final) | skip
    note: str
    started_at: str
    duration_s: float
    cycles: int
    retries: int
    parse_failures: int
    frames_path: str
    log_path: str
    # Added by the trial log (issue 8); defaults keep older constructors working.
    attempt: int = 1  # invalid ("redo") rows repeat a trial; the final outcome is the last attempt
    validator: str = ""
    proceeds: int = 0  # validator "proceed" decisions (retries are counted above)
    ik_failures: int = 0
    envelope_clipped: int = 0
    envelope_rejected: int = 0
    stop_reason: str = ""  # policy_done | cycle_budget | time_budget | operator_stop
    scored_at: str = ""
    # Added by issue 19: partial success on the task's rubric (0..100; empty where none was given: invalid, skip,
    # or a row from before), and why a row no longer counts (empty: it counts; "redone ..." or "session invalid:
    # <reason>"). Reports leave superseded rows out.
    progress: int | None = None
    superseded: str = ""
    env: str = ""  # environment fingerprint hash (records.environment; full record in environments.json)


@dataclass
class TrainLogRow:
    """<run dir>/log.csv: one row per logged optimiser step."""

    step: int
    epoch: float
    loss: float
    lr: float
    tokens: int
    elapsed_s: float
    env: str = ""  # environment fingerprint hash (records.environment; full record in environments.json)


@dataclass
class LogprobRow:
    """results/mechanism/logprob_<model>.csv: Fig. 3, one row per (held-out example, representation)."""

    model: str
    example_id: str
    representation: str  # verbalized | least_likely
    mean_logprob: float  # nats per target token, teacher-forced
    n_tokens: int
    env: str = ""  # environment fingerprint hash (records.environment; full record in environments.json)


@dataclass
class ForgettingRow:
    """results/mechanism/forgetting_<model>.csv: one row per arm (and the base model, arm='base')."""

    model: str
    arm: str  # base | verbalized-lora | verbalized-full | least_likely-lora | least_likely-full
    representation: str
    method: str  # none | lora | full
    steps: int
    probe_score: float  # retained knowledge on the probe set (accuracy in [0, 1])
    retention_pct: float  # probe_score / base probe_score * 100
    action_parse_rate: float
    action_mae_cm: float
    n_probe: int
    n_heldout: int
    seed: int
    env: str = ""  # environment fingerprint hash (records.environment; full record in environments.json)


@dataclass
class PolicyBenchRow:
    """results/bench/policy_<model>.csv: one row per cycle of the policy benchmark, per decoding variant."""

    model: str
    variant: str  # baseline | optimized
    cycle: int
    wall_s: float
    forward_passes: int
    prefill_tokens: int
    generated_tokens: int
    malformed: bool
    env: str = ""  # environment fingerprint hash (records.environment; full record in environments.json)


def ms_per_pass(wall_s: float, forward_passes: float) -> float:
    """Wall time per decoder forward pass in ms, totals over totals (the grammar engine's and sampling's time
    included): the one definition the benchmark, its report and the GPU check share."""
    return 1000 * wall_s / forward_passes if forward_passes else float("nan")


@dataclass
class PairRow:
    """results/robot/pairs*.csv: one operator preference between two policies run on the same scene of a blind A/B
    session (the input of the reports' Bradley-Terry ranking)."""

    session: str
    task: str
    scene_index: int
    model_a: str
    model_b: str
    trial_a: str  # trial ids of the two runs compared
    trial_b: str
    preference: str  # A | B | tie
    note: str = ""

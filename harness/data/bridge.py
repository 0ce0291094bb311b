"""Streaming reader of the raw BridgeData V2 release, with its known quirks.

Raw layout (one trajectory = one episode):

    <root>/.../<scene>/<task>/<session>/<YYYY-MM-DD_HH-MM-SS>/raw/traj_group<k>/traj<j>/
        obs_dict.pkl    dict: full_state (T, 7) = xyz (m), rpy (rad), gripper; time_stamp (T,); ...
        policy_out.pkl  list of T-1 dicts with 'actions' (7,) (older files: a list of arrays)
        lang.txt        instruction on the first line; lines containing 'confidence' are metadata
        images0/im_{t}.jpg  t = 0..T-1, 480x640 (images1..3: other cameras, unused)

Quirks handled here, so everything downstream sees one clean convention:
- Collection date: read from the dated directory name (the nearest ancestor named YYYY-MM-DD_HH-MM-SS, as the
  release's own conversion script does); if there is none, from `time_stamp[0]` when it is a Unix time; otherwise
  unknown (counted, treated as after the cut-off).
- Data collected before 2021-07-23 has a one-step latency: drop the first observation and the last action.
- A first action that is all zeros (no command yet) is dropped with its observation.
- Translation is relabelled as the difference of consecutive reached states (the commanded action is what the
  teleoperator asked for, not what the arm did), so chunks add up to where the arm really went.
- The gripper command is binarized (> 0.95 open, < 0.05 closed; values in between take the next decided value).

A trajectory that cannot be read raises `EpisodeError` with a short reason code and a detail; the builder skips and
counts it, it never aborts a build.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

from harness.actions.types import binarize_gripper
from harness.specs.data import ReaderSpec

_DATED = re.compile(r"^(\d{4})-(\d{2})-(\d{2})_(\d{2})-(\d{2})-(\d{2})$")
_TRAJ_GROUP = re.compile(r"^traj_group\d+$")
_TRAJ = re.compile(r"^traj(\d+)$")
_IMAGE = re.compile(r"^im_(\d+)\.jpg$")
_UNIX_2015 = 1.42e9  # time stamps above this are Unix seconds (the release starts in 2021)

# Reason codes of skipped episodes (the dataset card lists them with their paths).
REASONS = {
    "no_instruction": "lang.txt missing or without an instruction line",
    "missing_file": "obs_dict.pkl or policy_out.pkl missing",
    "bad_pickle": "a pickle cannot be loaded (truncated or corrupt)",
    "bad_values": "states or actions of the wrong shape, or not finite",
    "missing_images": "an image im_{t}.jpg of the camera is missing",
    "corrupt_image": "an image is not a complete JPEG",
    "length_mismatch": "states, actions and images disagree in length",
    "too_short": "fewer usable steps than reader.min_steps",
    "annotation_failed": "no annotator produced a valid decomposition",
}


class EpisodeError(Exception):
    """A trajectory that cannot be used. `reason` is one of REASONS; `detail` says what exactly."""

    def __init__(self, reason: str, detail: str):
        assert reason in REASONS, reason
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


@dataclass
class Episode:
    """One trajectory after the quirks: n deltas between n+1 states; image t shows state t."""

    episode_id: str  # path of the trajectory relative to the source root (posix)
    path: Path
    instruction: str
    states: np.ndarray  # (n+1, 7) full_state rows
    deltas: np.ndarray  # (n, 4) dx, dy, dz (m, relabelled) and the binarized gripper (1 open, 0 closed)
    image_paths: list[Path]  # n+1
    collected: date | None
    date_source: str  # dir | timestamp | unknown
    latency_shifted: bool
    dropped_zero_action: bool = False
    fingerprint: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def n_steps(self) -> int:
        return len(self.deltas)

    def displacement(self, start: int = 0, end: int | None = None) -> np.ndarray:
        """Net translation (m) between states `start` and `end` (default: the whole episode)."""
        end = self.n_steps if end is None else end
        return self.states[end, :3] - self.states[start, :3]


@dataclass(frozen=True)
class TrajGroup:
    """A `traj_group*` directory: the unit the builder shards and resumes by."""

    group_id: str  # relative path (posix)
    paths: tuple[Path, ...]


# ---------------------------------------------------------------------------------------------------- discovery
def _numeric_children(path: Path, pattern: re.Pattern[str]) -> list[Path]:
    try:
        entries = [e for e in os.scandir(path) if e.is_dir() and pattern.match(e.name)]
    except OSError:
        return []
    return [Path(e.path) for e in sorted(entries, key=lambda e: int(re.sub(r"\D", "", e.name) or 0))]


def _rel(path: Path, root: Path) -> str:
    rel = path.relative_to(root).as_posix()
    return rel if rel != "." else path.name


def iter_groups(source: str | Path) -> Iterator[TrajGroup]:
    """Yield the trajectory groups under `source` in a stable order, lazily (directory walk only, no data read).

    `source` may be any ancestor of `traj_group*` directories, a `traj_group*` directory, or one trajectory.
    """
    root = Path(source)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such directory (point --source at the raw BridgeData V2 release)")
    if (root / "obs_dict.pkl").exists() or _TRAJ.match(root.name):
        yield TrajGroup(root.name, (root,))
        return
    if _TRAJ_GROUP.match(root.name):
        yield TrajGroup(root.name, tuple(_numeric_children(root, _TRAJ)))
        return
    for dirpath, dirnames, _ in os.walk(root):
        dirnames.sort()
        here = Path(dirpath)
        groups = [d for d in dirnames if _TRAJ_GROUP.match(d)]
        for name in sorted(groups, key=lambda d: int(d[len("traj_group"):])):
            trajs = _numeric_children(here / name, _TRAJ)
            if trajs:
                yield TrajGroup(_rel(here / name, root), tuple(trajs))
        # never descend into trajectories or image folders
        dirnames[:] = [d for d in dirnames if not _TRAJ_GROUP.match(d) and not d.startswith("images")]


def count_episodes(source: str | Path) -> int:
    return sum(len(g.paths) for g in iter_groups(source))


def episode_id(path: Path, root: Path) -> str:
    return _rel(path, root)


# ---------------------------------------------------------------------------------------------------- fingerprint
def fingerprint(traj: Path, camera: str = "images0") -> str:
    """Cheap change detector: lang.txt bytes plus (name, size, mtime) of the pickles and the camera's images.

    Only `stat` calls (and one tiny file), so re-checking an unchanged 60k-episode release takes seconds instead of
    re-reading ~60 GB of JPEGs. Editing, replacing or touching a file (or copying without preserving times)
    marks the episode as changed.
    """
    h = hashlib.sha256()
    lang = traj / "lang.txt"
    try:
        h.update(b"lang:" + lang.read_bytes())
    except OSError:
        h.update(b"lang:-")
    for name in ("obs_dict.pkl", "policy_out.pkl"):
        try:
            st = (traj / name).stat()
            h.update(f"{name}:{st.st_size}:{st.st_mtime_ns};".encode())
        except OSError:
            h.update(f"{name}:-;".encode())
    try:
        entries = sorted(os.scandir(traj / camera), key=lambda e: e.name)
    except OSError:
        entries = []
    for e in entries:
        try:
            st = e.stat()
        except OSError:
            continue
        h.update(f"{e.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:32]


# ---------------------------------------------------------------------------------------------------- reading
def read_instruction(traj: Path) -> str:
    """The first line of lang.txt that is not a 'confidence' line (empty string if none)."""
    try:
        text = (traj / "lang.txt").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    for line in text.splitlines():
        line = line.strip()
        if line and "confidence" not in line.lower():
            return line
    return ""


def collection_date(traj: Path, time_stamps: object = None) -> tuple[date | None, str]:
    """When the trajectory was collected and where that came from ('dir', 'timestamp' or 'unknown')."""
    for part in reversed(traj.parts):
        m = _DATED.match(part)
        if m:
            try:
                return datetime(*(int(g) for g in m.groups())).date(), "dir"
            except ValueError:
                continue
    try:
        first = float(np.asarray(time_stamps, dtype=float).reshape(-1)[0])
        if first > _UNIX_2015 and np.isfinite(first):
            return datetime.fromtimestamp(first, tz=UTC).date(), "timestamp"
    except (TypeError, ValueError, IndexError):
        pass
    return None, "unknown"


def binarize_gripper_commands(values: np.ndarray, open_above: float = 0.95, closed_below: float = 0.05) -> np.ndarray:
    """1 open / 0 closed. In-between values (the gripper moving) take the next decided value, scanning from the end
    (OpenVLA's rule); trailing in-between values take the nearest side of 0.5."""
    out = np.empty(len(values), dtype=np.float64)
    carry = binarize_gripper(float(values[-1])) if len(values) else 0.0
    for t in range(len(values) - 1, -1, -1):
        v = values[t]
        if v > open_above:
            carry = 1.0
        elif v < closed_below:
            carry = 0.0
        out[t] = carry
    return out


def _load_pickle(path: Path) -> object:
    if not path.exists():
        raise EpisodeError("missing_file", f"{path.name} missing")
    try:
        with open(path, "rb") as f:
            return pickle.load(f)  # noqa: S301 - the release's own format; read only from the dataset you point at
    except Exception as e:  # a truncated/corrupt pickle raises almost anything (EOFError, UnpicklingError, ...)
        raise EpisodeError("bad_pickle", f"{path.name}: {type(e).__name__}: {e}") from e


def _array(value: object, what: str, cols: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise EpisodeError("bad_values", f"{what} is not numeric ({e})") from e
    if arr.ndim != 2 or arr.shape[1] < cols:
        raise EpisodeError("bad_values", f"{what} has shape {arr.shape}, expected (T, {cols})")
    if not np.isfinite(arr[:, :cols]).all():
        raise EpisodeError("bad_values", f"{what} holds non-finite values")
    return arr


def _actions(policy_out: object) -> np.ndarray:
    if not isinstance(policy_out, list | tuple) or not policy_out:
        raise EpisodeError("bad_values", f"policy_out.pkl holds {type(policy_out).__name__}, expected a list")
    rows = [p["actions"] if isinstance(p, dict) and "actions" in p else p for p in policy_out]
    return _array(rows, "policy_out actions", 7)


def _images(traj: Path, camera: str, count: int) -> list[Path]:
    folder = traj / camera
    if not folder.is_dir():
        raise EpisodeError("missing_images", f"{camera}/ missing")
    present = {int(m.group(1)) for name in os.listdir(folder) if (m := _IMAGE.match(name))}
    missing = [t for t in range(count) if t not in present]
    if missing:
        raise EpisodeError("missing_images", f"{camera}/im_{missing[0]}.jpg missing ({len(missing)} of {count})")
    extra = sorted(t for t in present if t >= count)
    if extra:
        raise EpisodeError("length_mismatch", f"{len(present)} images in {camera}/ but {count} states")
    return [folder / f"im_{t}.jpg" for t in range(count)]


def check_jpeg(path: Path) -> None:
    """A complete JPEG starts with SOI (FFD8) and ends with EOI (FFD9); reads 4 bytes."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(-2, os.SEEK_END)
            tail = f.read(2)
    except OSError as e:
        raise EpisodeError("corrupt_image", f"{path.parent.name}/{path.name}: {e}") from e
    if head != b"\xff\xd8" or tail != b"\xff\xd9":
        raise EpisodeError("corrupt_image", f"{path.parent.name}/{path.name} is not a complete JPEG")


def read_episode(traj: str | Path, root: str | Path, spec: ReaderSpec | None = None,
                 check_images: bool = True) -> Episode:
    """Read one trajectory directory into an `Episode`, applying the quirks. Raises `EpisodeError`."""
    spec = spec or ReaderSpec()
    traj, root = Path(traj), Path(root)
    instruction = read_instruction(traj)
    if not instruction:
        raise EpisodeError("no_instruction", "lang.txt missing" if not (traj / "lang.txt").exists()
                           else "lang.txt has no instruction line")
    obs = _load_pickle(traj / "obs_dict.pkl")
    if not isinstance(obs, dict) or "full_state" not in obs:
        raise EpisodeError("bad_values", "obs_dict.pkl has no 'full_state'")
    states = _array(obs["full_state"], "full_state", 7)[:, :7]
    actions = _actions(_load_pickle(traj / "policy_out.pkl"))[:, :7]
    n_obs = len(states)
    if len(actions) != n_obs - 1:
        raise EpisodeError("length_mismatch", f"{n_obs} states but {len(actions)} actions (expected {n_obs - 1})")
    images = _images(traj, spec.camera, n_obs)
    if check_images:
        for p in images:
            check_jpeg(p)

    collected, date_source = collection_date(traj, obs.get("time_stamp"))
    cutoff = date.fromisoformat(spec.latency_cutoff)
    shifted = collected is not None and collected < cutoff
    if shifted:  # obs[t + 1] is what action t was chosen from
        states, images, actions = states[1:], images[1:], actions[:-1]
    dropped = False
    if spec.drop_first_zero_action and len(actions) and not np.any(np.abs(actions[0, :6]) > 1e-9):
        states, images, actions = states[1:], images[1:], actions[1:]
        dropped = True
    if len(actions) < spec.min_steps:
        raise EpisodeError("too_short", f"{len(actions)} usable steps (reader.min_steps = {spec.min_steps})")

    deltas = np.empty((len(actions), 4), dtype=np.float64)
    deltas[:, :3] = states[1:, :3] - states[:-1, :3]
    deltas[:, 3] = binarize_gripper_commands(actions[:, 6], spec.gripper_open_above, spec.gripper_closed_below)
    return Episode(
        episode_id=episode_id(traj, root), path=traj, instruction=instruction, states=states, deltas=deltas,
        image_paths=list(images), collected=collected, date_source=date_source, latency_shifted=shifted,
        dropped_zero_action=dropped, meta={"raw_states": n_obs},
    )


def iter_episodes(source: str | Path, spec: ReaderSpec | None = None) -> Iterator[Episode]:
    """Every readable episode under `source`, one at a time (unreadable ones are passed over; the builder records
    them, this is for looking at the data: benchmarks, notebooks, tests)."""
    root = Path(source)
    for group in iter_groups(root):
        for path in group.paths:
            try:
                yield read_episode(path, root, spec)
            except EpisodeError:
                continue

"""Where a suite's TSVs come from, checked before anything runs.

The paper suite reads `$LMUData/<dataset>.tsv` and each file must have the md5 VLMEvalKit expects: VLMEvalKit
itself would otherwise try to download a missing or changed file (which fails offline, or silently replaces the
user's data). The embedded suite is generated into the harness cache and checked against its manifest.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from harness.paths import cache_dir
from harness.specs.vqa import VQASuiteSpec
from harness.vqa import generated


class LMUDataError(RuntimeError):
    """A suite's data is missing or not what VLMEvalKit expects; the message names the file and the fix."""


STAGE_HINT = ("stage it on a machine with internet: run VLMEvalKit once for the dataset there (it downloads "
              "<name>.tsv into its LMUData directory), or download the TSV from the URL in VLMEvalKit's dataset "
              "class, then copy the file into $LMUData")


def embedded_root() -> Path:
    """Where the embedded suite is generated (a valid LMUData directory of its own)."""
    return cache_dir() / "vqa" / f"lmudata-embedded-v{generated.GENERATOR_VERSION}"


def lmudata_root(suite: VQASuiteSpec, override: str | Path | None = None) -> Path:
    """The LMUData directory a suite reads: `override`, else the embedded cache or `$LMUData`."""
    if override is not None:
        return Path(override).expanduser().resolve()
    if suite.generated:
        return embedded_root()
    value = os.environ.get("LMUData")
    if not value:
        raise LMUDataError(f"suite {suite.name!r} reads VLMEvalKit TSVs from $LMUData, which is not set; export "
                           "LMUData=/path/to/LMUData (the directory holding e.g. MMStar.tsv) or pass --lmudata. "
                           "VLMEvalKit would otherwise fall back to ~/LMUData and try to download")
    return Path(value).expanduser().resolve()


def check_spec_md5(suite: VQASuiteSpec, kit_md5: Callable[[str], str | None]) -> None:
    """Each md5 in the spec equals the installed VLMEvalKit's own entry, so an upgrade cannot silently change
    which data is scored. `kit_md5(dataset)` reads VLMEvalKit's DATASET_MD5 tables."""
    if suite.generated:
        return
    for b in suite.benchmarks:
        expected = kit_md5(b.dataset)
        if b.md5 is not None and expected is not None and expected != b.md5:
            raise LMUDataError(f"suite {suite.name!r}: key md5 of {b.dataset} is {b.md5} but the installed VLMEvalKit "
                               f"expects {expected}; update experiments/vqa/{suite.name}.yaml to the VLMEvalKit "
                               "version you mean to score with")
        if b.md5 is None and expected is None:
            raise LMUDataError(f"suite {suite.name!r}: no md5 for {b.dataset} in the spec or in VLMEvalKit; add one "
                               "(md5sum of the TSV you mean to score) to its entry")


def check(suite: VQASuiteSpec, root: Path, *, kit_md5: Callable[[str], str | None] | None = None) -> dict[str, Path]:
    """Every benchmark's TSV exists under `root` with the expected md5; returns {dataset: path}.

    The expected md5 is the spec's (filled from VLMEvalKit's table), else `kit_md5(dataset)`.
    """
    if not root.is_dir():
        raise LMUDataError(f"LMUData directory {root} does not exist; create it and stage the TSVs "
                           f"({', '.join(b.dataset + '.tsv' for b in suite.benchmarks)}) into it")
    if suite.generated:
        names = [b.dataset for b in suite.benchmarks]
        unknown = [n for n in names if n not in generated.BUILDERS]
        if unknown:
            raise LMUDataError(f"suite {suite.name!r}: {', '.join(unknown)} are not embedded sets "
                               f"(known: {', '.join(generated.BUILDERS)})")
        if not generated.is_staged(root, names):
            raise LMUDataError(f"{root} does not hold the current embedded suite; run `vlm2vla vqa stage-embedded`")
        return {n: root / f"{n}.tsv" for n in names}
    paths = {}
    for b in suite.benchmarks:
        path = root / f"{b.dataset}.tsv"
        if not path.is_file():
            raise LMUDataError(f"{path} is missing ({b.label}); {STAGE_HINT.replace('<name>', b.dataset)}")
        want = b.md5 or (kit_md5(b.dataset) if kit_md5 else None)
        if want is None:
            raise LMUDataError(f"suite {suite.name!r}: no md5 for {b.dataset} in the spec; add "
                               f"md5: <VLMEvalKit's DATASET_MD5 entry> to its entry in experiments/vqa/{suite.name}.yaml")
        got = generated.md5_file(path)
        if got != want:
            raise LMUDataError(f"{path} has md5 {got} but VLMEvalKit expects {want} for {b.dataset}: a different or "
                               f"partial copy. Replace it — {STAGE_HINT.replace('<name>', b.dataset)}")
        paths[b.dataset] = path
    return paths

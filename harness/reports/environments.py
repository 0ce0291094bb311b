"""What produced the numbers: the environment fingerprints the result rows record, spelled out, and a flag on every
table or figure whose inputs mix them (a score can move with a package version; the reader must see that).

Rows store a short hash (`env`); the full fingerprints come from the `environments.json` sidecars beside the CSVs
(`harness.records.environment`). Rows written before the column existed have none and are not counted.
"""

from __future__ import annotations

from harness.records.environment import differing, load_environments
from harness.reports.entry import Context, Entry
from harness.reports.table import Column, Table

KEYS = ("torch", "transformers", "peft", "accelerate", "vlmeval", "python", "device", "hardware", "dtype", "git_sha")


def _used(entries: list[Entry]) -> dict[str, list[str]]:
    """hash -> the input paths whose rows record it (first-seen order)."""
    out: dict[str, list[str]] = {}
    for e in entries:
        for s in e.sources:
            for h in s.envs:
                if s.path not in out.setdefault(h, []):
                    out[h].append(s.path)
    return out


def flag_mixed(entries: list[Entry], known: dict[str, dict[str, str]]) -> None:
    """Flag each entry whose inputs record more than one fingerprint, naming what differs."""
    for e in entries:
        hashes = sorted({h for s in e.sources for h in s.envs})
        if len(hashes) < 2:
            continue
        found = [known[h] for h in hashes if h in known]
        keys = differing(found) if len(found) == len(hashes) else []
        what = f"differing in {', '.join(keys)}" if keys else "(some not in any environments.json)"
        e.flags.append(f"mixes {len(hashes)} environment fingerprints ({', '.join(hashes)}) {what}; its numbers "
                       "may not be comparable: rerun under one environment or read them per fingerprint")


def build(ctx: Context, entries: list[Entry]) -> list[Entry]:
    """The environments table over what `entries` read; flags mixed entries. Call after every other section."""
    known, problems = load_environments(ctx.results)
    used = _used(entries)
    flag_mixed(entries, known)
    entry = Entry("environments", "table", "Environments that produced the results (fingerprints recorded in rows)",
                  problems=problems)
    if not used:  # results from before the `env` column: nothing to show, nothing missing
        return [entry] if problems else []
    unknown = [h for h in used if h not in known]
    if unknown:
        entry.problems.append(f"fingerprint(s) {', '.join(unknown)} recorded in rows but in no environments.json "
                              "under the results directory; copy the sidecar along with the CSV")
    columns = [Column("env", "env"), *[Column(k, k) for k in KEYS], Column("inputs", "Inputs")]
    rows = [[h, *[known.get(h, {}).get(k) for k in KEYS], " ".join(paths)] for h, paths in used.items()]
    entry.files = ctx.write_table(Table("environments", entry.title, columns, rows, [
        "Versions from the installed package metadata; hardware = the GPU a cuda device names, else the CPU model; "
        "git_sha ends in -dirty when tracked files differed from HEAD.",
        "A table or figure whose inputs record more than one fingerprint is flagged in the index."]))
    entry.reading = [f"{len(used)} environment fingerprint(s) across the inputs"
                     + (f", differing in {', '.join(differing([known[h] for h in used if h in known]))}"
                        if len(used) > 1 else "")]
    return [entry]

"""Choosing one episode of a built D_lan: by its index among the usable episodes, or by part of its id."""

from __future__ import annotations

from pathlib import Path

from harness.data.manifest import Manifest


class EpisodeSelectionError(ValueError):
    """The key names no episode, or several; the message says how to name exactly one."""


def usable_episodes(dlan: str | Path) -> list[str]:
    """Ids of the episodes the build kept (status ok), in manifest order; empty when nothing was built."""
    return [eid for eid, e in Manifest(dlan).episodes() if e["status"] == "ok"]


def select_episode(usable: list[str], key: str) -> str:
    """The episode `key` names: a decimal index into `usable`, else the one id that contains `key`."""
    if key.isdigit():
        if int(key) >= len(usable):
            raise EpisodeSelectionError(f"only {len(usable)} usable episodes")
        return usable[int(key)]
    matches = [e for e in usable if key in e]
    if len(matches) != 1:
        raise EpisodeSelectionError(f"matches {len(matches)} episodes; give a longer part of the id or an index")
    return matches[0]

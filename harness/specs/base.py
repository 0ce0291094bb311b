"""Spec errors and field checks shared by every spec schema.

Schemas validate themselves in `__post_init__` with `check`, which raises `SpecValueError` naming the key, the bad value
and what is allowed; the loader adds the file, so a user sees exactly which line of which YAML to fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class SpecError(ValueError):
    """A spec file is missing, unreadable or invalid. The message names the file, key, value and the fix."""


class SpecValueError(ValueError):
    """A field holds a value outside what is allowed (raised inside a schema; the loader adds the file)."""

    def __init__(self, key: str, value: Any, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"key '{key}': value {value!r} is not allowed; expected {allowed}")


def check(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise SpecValueError(key, value, allowed)


def check_choice(key: str, value: Any, choices: Iterable[str]) -> None:
    choices = tuple(choices)
    check(value in choices, key, value, "one of " + ", ".join(repr(c) for c in choices))


def check_positive(key: str, value: float, *, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    check(ok, key, value, "a number >= 0" if allow_zero else "a number > 0")

"""Schema for knowledge probe sets: cloze items scored by the model's own likelihood of each option (no judge).

An item is a prompt and options that complete it; the model is right when the answer's log-probability (summed over
its tokens, given the prompt) beats every distractor's. Used by the forgetting grid (`vlm2vla forgetting`) to
measure what a fine-tuned model still knows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.specs.base import check

SCORING = ("sum",)


@dataclass
class ProbeItem:
    id: str = "???"  # unique within the set
    lang: str = "en"  # ISO 639 code of the prompt's language (zxx: no linguistic content, e.g. arithmetic)
    category: str = "???"  # capital, element, arithmetic, translation, ...
    prompt: str = "???"  # the text the options continue
    answer: str = "???"
    distractors: list[str] = field(default_factory=list)

    @property
    def options(self) -> list[str]:
        """Answer first, then the distractors (option order cannot matter: each is scored on its own)."""
        return [self.answer, *self.distractors]


@dataclass
class ProbeSetSpec:
    name: str = "???"
    description: str = ""
    separator: str = " "  # written between the prompt and each option
    scoring: str = "sum"  # sum of the option's token log-probabilities given the prompt
    items: list[ProbeItem] = field(default_factory=list)

    def __post_init__(self) -> None:
        check(self.scoring in SCORING, "scoring", self.scoring, "one of " + ", ".join(map(repr, SCORING)))
        check(len(self.items) > 0, "items", [], "at least one item")
        seen: set[str] = set()
        for i, item in enumerate(self.items):
            key = f"items[{i}]"
            check(bool(item.id) and item.id not in seen, f"{key}.id", item.id, "a non-empty id unique in the set")
            seen.add(item.id)
            for name in ("lang", "category", "prompt", "answer"):
                value = getattr(item, name)
                check(bool(value.strip()), f"{key}.{name}", value, "a non-empty string")
            check(len(item.distractors) > 0, f"{key}.distractors", item.distractors, "at least one distractor")
            options = [o.strip() for o in item.options]
            check(all(options), f"{key}.distractors", item.distractors, "non-empty strings")
            check(len(set(options)) == len(options), f"{key}.distractors", item.distractors,
                  f"options that differ from each other and from the answer {item.answer!r}")

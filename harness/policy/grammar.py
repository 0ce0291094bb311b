"""The action grammars, and a token-level matcher over them (llguidance), so a constrained chunk always parses.

- verbalized: the canonical form `VerbalizedCodec.encode` writes (`move forward 4.2 cm, move left 1.0 cm, close
  gripper; move up 5.0 cm`): per step a non-empty, ordered subset of the x, y, z phrases and the gripper phrase, or
  `stay`; steps joined by `; `, at most `max_steps` of them; numbers as the codec writes them at its resolution.
  Every string of this language is decoded by `VerbalizedCodec.decode` (tests check it by sampling the grammar).
- least_likely: fixed-width steps over the model's 10 chosen token ids (3 axes x `digits` digit tokens, then one
  gripper token among digits 0, 1, 2), 1..`max_steps` steps. Written at the token level (`<[id,...]>`), so the
  model can only emit those ids, never a re-tokenized look-alike.

llguidance (no triton; one `LLTokenizer` per tokenizer, built once per process: ~5-10 s for Gemma's 262k vocabulary)
computes the allowed-token mask per step and the forced tokens for jump-forward (`compute_ff_tokens`, safe at token
boundaries: it only forces a token when every legal continuation starts with it). The stop tokens (<end_of_turn>,
<eos>) are allowed exactly where the grammar accepts.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

    from harness.actions import LeastLikelyTokens
    from harness.specs.actions import ActionReprSpec


class GrammarError(RuntimeError):
    """The grammar engine is missing, or a grammar does not compile. The message says how to fix it."""


def _number_regex(resolution_cm: float) -> str:
    """Numbers as `VerbalizedCodec._number` writes them: one decimal, a multiple of the resolution, < 100 cm."""
    last = {0.1: "[0-9]", 0.5: "[05]", 1.0: "0"}[resolution_cm]
    return rf"/(0|[1-9][0-9]?)\.{last}/"


def verbalized_lark(resolution_cm: float = 0.1, max_steps: int = 8) -> str:
    """Lark grammar of canonical verbalized chunks with at most `max_steps` steps."""
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    sep = '", "'
    more = f' ("; " step){{0,{max_steps - 1}}}' if max_steps > 1 else ""  # llguidance rejects a {0,0} repeat
    return "\n".join([
        f"start: step{more}",
        f'step: "stay" | x ({sep} y)? ({sep} z)? ({sep} g)? | y ({sep} z)? ({sep} g)? | z ({sep} g)? | g',
        'x: "move " ("forward" | "backward") " " num " cm"',
        'y: "move " ("left" | "right") " " num " cm"',
        'z: "move " ("up" | "down") " " num " cm"',
        'g: ("open" | "close") " gripper"',
        f"num: {_number_regex(resolution_cm)}",
    ])


def least_likely_lark(token_ids: Sequence[int], digits: int = 3, max_steps: int = 8) -> str:
    """Token-level grammar: 1..max_steps steps of 3*digits digit tokens and one gripper token (digit 0, 1 or 2)."""
    if len(token_ids) != 10 or len(set(token_ids)) != 10:
        raise ValueError(f"the least-likely grammar needs 10 distinct token ids, got {list(token_ids)}")
    any_digit = ",".join(str(int(i)) for i in token_ids)
    gripper = ",".join(str(int(i)) for i in token_ids[:3])
    return "\n".join([
        f"start: step{{1,{max_steps}}}",
        "step: " + " ".join(["d"] * (3 * digits)) + " g",
        f"d: <[{any_digit}]>",
        f"g: <[{gripper}]>",
    ])


def action_lark(spec: ActionReprSpec, tokens: LeastLikelyTokens | None = None, max_steps: int = 8) -> str:
    """The grammar of a model's action representation."""
    if spec.type == "verbalized":
        return verbalized_lark(spec.resolution_cm, max_steps)
    if spec.type == "least_likely":
        if tokens is None:
            raise ValueError(f"action representation {spec.name!r} needs the model's least-likely tokens")
        return least_likely_lark(tokens.ids, spec.least_likely.digits, max_steps)
    raise ValueError(f"action representation {spec.name!r} ({spec.type}) has no text grammar")


def plan_lark() -> str:
    """Lark grammar of the motion plans `harness.actions.plan.motion_plan` writes (the rules annotator's language):
    'stay', a gripper event, or 'move' + 1-3 direction words (each maybe 'slightly'), then maybe ', then' + an event.

    Bounded, so a constrained plan always ends; most of its tokens are forced ("move ", " gripper"), so jump-forward
    appends them without a forward pass each."""
    return "\n".join([
        'start: "stay" | g | move (", then " g)?',
        'move: "move " w ((" and " w) | (", " w " and " w))?',
        'w: "slightly "? ("forward" | "backward" | "left" | "right" | "up" | "down")',
        'g: ("open" | "close") " gripper"',
    ])


def subtasks_lark(max_items: int = 8) -> str:
    """Lark grammar of a numbered sub-task list as `templates.subtasks_target` writes it ("1. reach the carrot\n2.
    grasp the carrot"), at most `max_items` lines (the policy keeps no more, `policy.max_subtasks`): a model that
    keeps listing stops there instead of at its token budget, and each "K. " after a newline is forced. A line must
    hold a letter (`parse_subtasks` would drop one that does not)."""
    if max_items < 1:
        raise ValueError(f"max_items must be >= 1, got {max_items}")
    rest = ""
    for k in range(max_items, 1, -1):
        rest = f'("\\n{k}. " line {rest})?'
    return "\n".join([f'start: "1. " line {rest}'.rstrip(), r"line: /[^\n]*[^\W\d_][^\n]*/"])


YES_NO_LARK = 'start: "yes" | "no"'


# ---------------------------------------------------------------------------------------------------- engine
_TOKENIZERS: weakref.WeakKeyDictionary[Any, dict[tuple[int, ...], Any]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _llguidance():
    try:
        import llguidance
        import llguidance.hf
        import llguidance.numpy
    except ImportError as e:
        raise GrammarError("constrained decoding needs llguidance: pip install -e '.[grammar]' (or make setup-all); "
                           "or set generation.constrained_actions: false in the model spec") from e
    return llguidance


def ll_tokenizer(tokenizer: Any, stop_ids: Sequence[int]) -> Any:
    """The llguidance view of a HF fast tokenizer, with `stop_ids` as its end tokens (cached per tokenizer)."""
    llg = _llguidance()
    key = tuple(int(i) for i in stop_ids)
    with _LOCK:
        per = _TOKENIZERS.setdefault(tokenizer, {})
        if key not in per:
            try:
                per[key] = llg.hf.from_tokenizer(tokenizer, eos_token=list(key))
            except ValueError as e:
                raise GrammarError(f"llguidance cannot read this tokenizer ({type(tokenizer).__name__}): {e}") from e
        return per[key]


class Constraint:
    """One decoding under a grammar: the allowed next tokens, forced tokens, and the tokens consumed so far."""

    def __init__(self, tokenizer: Any, stop_ids: Sequence[int], lark: str, vocab_size: int):
        llg = _llguidance()
        self._lltok = ll_tokenizer(tokenizer, stop_ids)
        grammar = llg.LLMatcher.grammar_from_lark(lark)
        self.matcher = llg.LLMatcher(self._lltok, grammar, log_level=0)
        if self.matcher.is_error():
            raise GrammarError(f"the grammar does not compile: {self.matcher.get_error()}\n{lark}")
        self.stop_ids = [int(i) for i in stop_ids]
        self.vocab_size = vocab_size  # the model's logits width (may exceed the tokenizer's)
        self._bitmask = llg.numpy.allocate_token_bitmask(1, self._lltok.vocab_size)
        self._fill = llg.numpy.fill_next_token_bitmask

    def allowed(self) -> np.ndarray:
        """Ids the grammar allows next (stop ids only where the text so far is complete)."""
        self._fill(self.matcher, self._bitmask)
        bits = np.unpackbits(self._bitmask.view(np.uint8), bitorder="little")[: self._lltok.vocab_size]
        ids = np.flatnonzero(bits)
        return ids[ids < self.vocab_size]

    def allowed_tensor(self, device: Any) -> torch.Tensor:
        import torch

        return torch.from_numpy(self.allowed()).to(device)

    def consume(self, ids: Sequence[int]) -> None:
        if not self.matcher.consume_tokens([int(i) for i in ids]):
            raise GrammarError(f"token(s) {list(ids)} rejected by the grammar: {self.matcher.get_error()}")

    def admits(self, ids: Sequence[int]) -> int:
        """How many of `ids`, in order, the grammar would accept from here (nothing is consumed): a draft's valid
        prefix."""
        return int(self.matcher.validate_tokens([int(i) for i in ids]))

    def forced(self) -> list[int]:
        """Tokens every legal continuation starts with (jump-forward); [] when the model has a choice."""
        return list(self.matcher.compute_ff_tokens())

    @property
    def accepting(self) -> bool:
        return self.matcher.is_accepting()

    @property
    def finished(self) -> bool:
        """Nothing but a stop token can follow."""
        return self.matcher.is_stopped()

"""The peer a researcher would pick for parseable text: `model.generate` with xgrammar's transformers integration.

`PeerGenerator` is the policy benchmark's third variant. It uses maintained code only, the way their docs show it:

- the grammar: `xgrammar.Grammar.from_lark` reads our grammars (`harness.policy.grammar`) as written, token-level
  `<[ids]>` sets included, compiled once per grammar against `xgrammar.TokenizerInfo.from_huggingface` with the
  policy's stop ids; each `generate` call gets a fresh `xgrammar.contrib.hf.LogitsProcessor` (it keeps its matcher
  state, one use only). The text ends when the model samples a stop token, which the grammar allows exactly where the
  text is complete (only the stop tokens once nothing else can follow): one forward pass more than a decoder that
  stops itself there. A budget that runs out mid-step leaves the text cut (`generate` does not know the grammar): the
  peer keeps its longest prefix that xgrammar's own matcher calls complete (`GrammarMatcher.is_completed`), as the
  optimized decoder keeps its complete steps, so a budget cut costs both variants the same unfinished step.
- the prefix cache, as transformers documents prefix reuse: the observation image and the instruction line that the
  sub-task, plan and action prompts all start with are prefilled once (a `DynamicCache`); each prompt's ids (that
  prefix + its own suffix) go to `generate` with a `copy.deepcopy` of that cache, so only the suffix is prefilled.
- sampling: `generate`'s own warpers with the spec's temperature, top-p and an explicit top-k (0 = off), as
  `LoadedModel.generate_batch` passes them; a user-supplied logits processor runs before transformers' warpers
  (`GenerationMixin._get_logits_processor` appends the warpers after merging the user's list), so top-k and top-p
  read the distribution over the allowed tokens: the same distribution `decoding.nucleus` draws from (a test checks
  it). Seeded through `torch.manual_seed` inside `torch.random.fork_rng`, as the baseline is.

xgrammar's regex classes are ASCII (its `\\W` is `[^A-Za-z0-9_]`), llguidance's are Unicode: the sub-task grammar's
"a line holds a letter" accepts only ASCII letters there; every other grammar means the same in both engines.
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harness.data.templates import Prompt
from harness.models.loaded import LoadedModel, prompt_content
from harness.policy.decoding import ForwardCounter, StageResult, common_prefix
from harness.policy.grammar import GrammarError
from harness.specs.model import StageSampling

if TYPE_CHECKING:
    from PIL import Image


def _xgrammar() -> Any:
    try:
        import xgrammar
        import xgrammar.contrib.hf
    except ImportError as e:
        raise GrammarError("the policy benchmark's peer needs xgrammar: make setup-all (the `peer` extra; pip "
                           "install --no-deps xgrammar after the `peer-deps` extra), or run the benchmark with "
                           "--variants baseline,optimized") from e
    return xgrammar


def shared_prefix_text(prompt: Prompt) -> str:
    """The text every policy prompt of one observation starts with: its first line (`Instruction: ...`) and the
    newline after it."""
    first, sep, _ = prompt.text.partition("\n")
    return first + sep


class PeerGenerator:
    """`generate` + xgrammar's logits processor + a reused prefix cache (see the module doc). One per policy: it
    holds the current observation's prefix cache."""

    name = "peer"

    def __init__(self, loaded: LoadedModel):
        self.loaded = loaded
        config = loaded.base_model().config
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        self.vocab_size = int(text.vocab_size)
        self.counter = ForwardCounter(loaded)
        self._info: Any = None
        self._compiler: Any = None
        self._compiled: dict[str, Any] = {}
        self._prefix_key: tuple[tuple[str, tuple[bytes, ...]], int] | None = None  # (prefix text, images), length
        self._prefix_ids: list[int] = []
        self._prefix_cache: Any = None

    # ---------------------------------------------------------------- grammar
    def setup(self) -> float:
        """Build xgrammar's view of the tokenizer (once; the benchmark times it apart from the cycles). Seconds."""
        t0 = time.perf_counter()
        if self._compiler is None:
            xgr = _xgrammar()
            self._info = xgr.TokenizerInfo.from_huggingface(self.loaded.tokenizer, vocab_size=self.vocab_size,
                                                            stop_token_ids=[int(i) for i in self.loaded.stop_ids])
            self._compiler = xgr.GrammarCompiler(self._info)
        return time.perf_counter() - t0

    def compiled(self, lark: str) -> Any:
        """The grammar compiled for this tokenizer (cached per grammar text, as a server would)."""
        if lark not in self._compiled:
            self.setup()
            xgr = _xgrammar()
            try:
                self._compiled[lark] = self._compiler.compile_grammar(xgr.Grammar.from_lark(lark))
            except RuntimeError as e:
                raise GrammarError(f"xgrammar cannot read this grammar: {e}\n{lark}") from e
        return self._compiled[lark]

    def complete_prefix(self, lark: str, ids: Sequence[int]) -> int:
        """Length of the longest prefix of `ids` that the grammar accepts as a complete text (xgrammar's matcher)."""
        matcher = _xgrammar().GrammarMatcher(self.compiled(lark))
        complete = 0
        for i, token in enumerate(ids):
            if not matcher.accept_token(int(token)):
                break
            if matcher.is_completed():
                complete = i + 1
        return complete

    def logits_processor(self, lark: str) -> Any:
        """A fresh xgrammar processor for one `generate` call."""
        return _xgrammar().contrib.hf.LogitsProcessor(self.compiled(lark))

    # ---------------------------------------------------------------- prefix cache
    def _prefix(self, prompt: Prompt, images: Sequence[Image.Image], ids: list[int]) -> tuple[int, int]:
        """Make sure the cache holds this prompt's image+instruction prefix; (prefix length, tokens prefilled now).
        The prefix is prefilled once per observation and instruction (the image is encoded for it then only)."""
        import torch
        from transformers import DynamicCache

        loaded = self.loaded
        keys = tuple(hashlib.sha256(im.convert("RGB").tobytes()).digest() + bytes(str(im.size), "ascii")
                     for im in images)
        key = (shared_prefix_text(prompt), keys)
        if self._prefix_key is not None and self._prefix_key[0] == key:
            n = self._prefix_key[1]
            if common_prefix(ids[:n], self._prefix_ids) == n and n < len(ids):
                return n, 0
        text, imgs = loaded.render(prompt_content(prompt, images)[:-1] + [shared_prefix_text(prompt)])
        inputs = loaded.encode([text], [imgs])
        prefix_ids = inputs["input_ids"][0].tolist()
        # the prefix rendered alone ends its turn where the prompt goes on: the shared ids are the common ones, less
        # the last (its logits start the answer, so `generate` must run at least one prompt token)
        n = min(common_prefix(prefix_ids, ids), len(ids) - 1)
        placed = loaded.on_device({k: v[:, :n] if v.dim() == 2 and v.shape[1] == len(prefix_ids) else v
                                   for k, v in inputs.items()})
        cache = DynamicCache(config=loaded.base_model().config)
        with torch.inference_mode():
            loaded.model(**placed, cache=cache, use_cache=True)
        self._prefix_key, self._prefix_ids, self._prefix_cache = (key, n), ids[:n], cache
        return n, n

    # ---------------------------------------------------------------- decoding
    def generate(self, prompt: Prompt, images: Sequence[Image.Image], sampling: StageSampling, seed: int,
                 grammar: str | None = None) -> StageResult:
        t0 = time.perf_counter()
        out, ids, run = self.run(prompt, images, sampling, seed, grammar)
        new = out[0, len(ids):].tolist()
        stop = {int(i) for i in self.loaded.stop_ids}
        stopped = bool(new) and new[-1] in stop
        kept = new[:-1] if stopped else new
        cut = not stopped and len(new) >= sampling.max_new_tokens  # the budget ended it
        if cut and grammar is not None:
            kept = kept[: self.complete_prefix(grammar, kept)]
        return StageResult(text=self.loaded.tokenizer.decode(kept, skip_special_tokens=True), ids=kept,
                           wall_s=time.perf_counter() - t0, forward_passes=run["passes"],
                           prefill_tokens=run["prefill_tokens"], reused_tokens=run["reused_tokens"],
                           generated_tokens=len(new), truncated=cut,
                           decode_tokens=max(0, run["generate_passes"] - 1))

    def run(self, prompt: Prompt, images: Sequence[Image.Image], sampling: StageSampling, seed: int,
            grammar: str | None = None, **generate_options: Any) -> tuple[Any, list[int], dict[str, int]]:
        """`model.generate` on the prompt, the prefix from the cache: (what `generate` returned, the prompt ids, the
        counts). `generate_options` go to `generate` as they are (a test reads the processed scores)."""
        import torch

        loaded, model = self.loaded, self.loaded.model
        text, imgs = loaded.render(prompt_content(prompt, images))
        inputs = loaded.encode([text], [imgs])
        ids = inputs["input_ids"][0].tolist()
        sample = sampling.temperature > 0
        options: dict[str, Any] = {"max_new_tokens": sampling.max_new_tokens, "do_sample": sample,
                                   "eos_token_id": [int(i) for i in loaded.stop_ids],
                                   "pad_token_id": int(loaded.tokenizer.pad_token_id)}
        if sample:  # explicit: transformers fills an option left None from the checkpoint's generation config
            options.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=int(sampling.top_k))
        else:
            options.update(temperature=None, top_p=None, top_k=None)
        processors = [self.logits_processor(grammar)] if grammar is not None else []
        was_training = model.training
        model.eval()
        try:
            with self.counter as c:
                n, prefilled = self._prefix(prompt, images, ids)
                prefix_passes = c.calls
                # the image is in the cached prefix: `generate` gets the ids (prefix + suffix), masks and token
                # types, and prefills only the suffix
                placed = loaded.on_device({k: v for k, v in inputs.items() if k != "pixel_values"})
                with torch.random.fork_rng(devices=[]), torch.inference_mode():
                    torch.manual_seed(seed)
                    out = model.generate(**placed, cache=copy.deepcopy(self._prefix_cache),
                                         logits_processor=processors, **options, **generate_options)
        finally:
            model.train(was_training)
        counts = {"passes": c.calls, "generate_passes": c.calls - prefix_passes,
                  "prefill_tokens": prefilled + len(ids) - n, "reused_tokens": n - prefilled}
        return out, ids, counts

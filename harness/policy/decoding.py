"""Stage generators: how one prompt of the policy (sub-tasks, plan, action) becomes text.

Two implementations behind one call, `generate(prompt, images, sampling, seed, grammar=None) -> StageResult`:

- `NaiveGenerator`: the baseline; one plain `model.generate` per stage (`LoadedModel.generate_prompt`), nothing
  reused, never constrained.
- `FastGenerator`: a hand-rolled decode loop over the model's forward pass that
  * keeps the KV cache of the last sequence and reuses its longest common prefix with the next prompt (the image
    and instruction shared by the sub-task, plan and action prompts, and by a retry on the same image); a prefix
    is reused only when it ends after the images it contains and those images are identical;
  * decodes under a grammar when given one (`harness.policy.grammar`): the output always parses, and
  * jump-forward: tokens the grammar forces are appended without sampling and fed in the same forward pass as the
    sampled token before them; once the grammar admits nothing more, decoding stops without a step for the stop
    token; every forward keeps only the last position's logits (`logits_to_keep=1`);
  * samples with temperature and top-p exactly as `transformers`' warpers do (top-p over the allowed tokens), from
    a generator seeded per call, so the same seed gives the same text.

`ForwardCounter` counts decoder forward passes and the tokens they process with a hook on the language model, the
same way for both generators (the benchmark's measure).
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from harness.data.templates import Prompt
from harness.models.loaded import LoadedModel, prompt_content
from harness.policy.grammar import Constraint
from harness.specs.model import StageSampling

if TYPE_CHECKING:
    import torch
    from PIL import Image


@dataclass
class StageResult:
    text: str
    ids: list[int]  # generated ids (a sampled stop token excluded)
    wall_s: float = 0.0
    forward_passes: int = 0  # decoder forward passes
    prefill_tokens: int = 0  # prompt tokens run through the decoder
    reused_tokens: int = 0  # prompt tokens whose keys/values came from the cache instead
    generated_tokens: int = 0  # tokens produced: sampled (a stop token included) or forced
    forced_tokens: int = 0  # of which appended by jump-forward without sampling
    truncated: bool = False  # the token budget ran out first

    def stats(self, prefix: str) -> dict[str, float]:
        keys = ("wall_s", "forward_passes", "prefill_tokens", "reused_tokens", "generated_tokens", "forced_tokens")
        return {f"{prefix}_{k}": float(getattr(self, k)) for k in keys}


class StageGenerator(Protocol):
    name: str

    def generate(self, prompt: Prompt, images: Sequence[Image.Image], sampling: StageSampling, seed: int,
                 grammar: str | None = None) -> StageResult: ...


def derive_seed(*parts: object) -> int:
    """A stable 31-bit seed from any labels (base seed, trial, cycle, stage)."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def decoder_module(loaded: LoadedModel) -> Any:
    """The text decoder inside the (possibly peft-wrapped) image-text model."""
    return loaded.base_model().get_decoder()


class ForwardCounter:
    """Counts decoder forward passes and the tokens they process (a forward pre-hook on the language model)."""

    def __init__(self, loaded: LoadedModel):
        self.module = decoder_module(loaded)
        self.calls = 0
        self.tokens = 0
        self._handle = None

    def _hook(self, module: Any, args: tuple, kwargs: dict) -> None:
        x = kwargs.get("inputs_embeds")
        if x is None:
            x = kwargs.get("input_ids", args[0] if args else None)
        self.calls += 1
        self.tokens += int(x.shape[1]) if x is not None else 0

    def __enter__(self) -> ForwardCounter:
        self.calls = self.tokens = 0
        self._handle = self.module.register_forward_pre_hook(self._hook, with_kwargs=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None


# ---------------------------------------------------------------------------------------------------- baseline
class NaiveGenerator:
    """The baseline: `model.generate` on the full prompt for every stage; no cache reuse, no grammar."""

    name = "baseline"

    def __init__(self, loaded: LoadedModel):
        self.loaded = loaded
        self.counter = ForwardCounter(loaded)

    def generate(self, prompt: Prompt, images: Sequence[Image.Image], sampling: StageSampling, seed: int,
                 grammar: str | None = None) -> StageResult:
        t0 = time.perf_counter()
        with self.counter as c:
            text = self.loaded.generate_prompt(prompt, images, max_new_tokens=sampling.max_new_tokens,
                                               temperature=sampling.temperature, top_p=sampling.top_p, seed=seed)
        wall = time.perf_counter() - t0
        # generate: one prefill pass over the prompt, then one pass per further token; every pass yields one token
        prefill = c.tokens - (c.calls - 1)
        return StageResult(text, [], wall, c.calls, prefill, 0, c.calls, 0, c.calls >= sampling.max_new_tokens)


# ---------------------------------------------------------------------------------------------------- sampling
TOP_K_FIRST = 256  # top-p is resolved inside the top 256 tokens when they hold enough mass (exact either way)


def sample_token(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None,
                 allowed: torch.Tensor | None = None) -> int:
    """Greedy when temperature == 0, else temperature + nucleus sampling as transformers' warpers (HF keeps a token
    when the probability mass strictly before it, in descending order, is below top_p)."""
    import torch

    scores = logits if allowed is None else logits.index_select(0, allowed)
    if temperature <= 0:
        best = int(torch.argmax(scores))
    else:
        probs = torch.softmax(scores.float() / temperature, dim=-1)
        if top_p < 1.0:
            k = min(TOP_K_FIRST, probs.numel())
            top, order = torch.topk(probs, k)
            if k < probs.numel() and float(top.sum()) < top_p:
                top, order = torch.sort(probs, descending=True)
            keep = (torch.cumsum(top, 0) - top) < top_p
            top, order = top[keep], order[keep]
            best = int(order[torch.multinomial(top, 1, generator=generator)])
        else:
            best = int(torch.multinomial(probs, 1, generator=generator))
    return int(allowed[best]) if allowed is not None else best


# ---------------------------------------------------------------------------------------------------- fast path
class FastGenerator:
    """The optimized decode loop (see the module doc). Holds one KV cache: not thread-safe, one per policy."""

    name = "optimized"

    def __init__(self, loaded: LoadedModel, *, reuse_cache: bool = True, jump_forward: bool = True):
        self.loaded, self.reuse_cache, self.jump_forward = loaded, reuse_cache, jump_forward
        config = loaded.base_model().config
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        self.image_token_id = getattr(config, "image_token_id", None)
        self.vocab_size = int(text.vocab_size)
        windows = [getattr(text, "sliding_window", None)] if "sliding" in str(getattr(text, "layer_types", "")) else []
        self.max_cached = min([w - 1 for w in windows if w] or [1 << 30])  # sliding layers cannot crop past this
        self.reset()

    def reset(self) -> None:
        """Forget the cached sequence (the next prompt is prefilled in full)."""
        self._cache: Any = None
        self._cache_ids: list[int] = []
        self._cache_images: tuple[bytes, ...] = ()
        self._snapshot: tuple[Any, list[int]] | None = None  # the prompt's cache, when decoding may outgrow a window

    # ---------------------------------------------------------------- the cache
    def _image_end(self, ids: list[int]) -> int:
        """Position after the last image token (0 when there is none)."""
        if self.image_token_id is None or self.image_token_id not in ids:
            return 0
        return len(ids) - ids[::-1].index(self.image_token_id)

    def _reusable(self, ids: list[int], images: tuple[bytes, ...]) -> int:
        if self.reuse_cache and len(self._cache_ids) > self.max_cached and self._snapshot is not None:
            (self._cache, self._cache_ids), self._snapshot = self._snapshot, None
        if not self.reuse_cache or self._cache is None or len(self._cache_ids) > self.max_cached:
            return 0
        n = 0
        for a, b in zip(self._cache_ids, ids, strict=False):
            if a != b:
                break
            n += 1
        n = min(n, len(ids) - 1)  # the last prompt token is always run: its logits start the answer
        image_end = self._image_end(ids)
        if image_end and (n < image_end or images != self._cache_images):
            return 0  # a prefix cut inside the image block, or over different images, is not the same prefix
        return n

    def _forward(self, ids: list[int], extra: dict[str, Any] | None = None) -> torch.Tensor:
        import torch

        inputs = {"input_ids": torch.tensor([ids], device=self.loaded.device), **(extra or {})}
        out = self.loaded.model(**inputs, past_key_values=self._cache, use_cache=True, logits_to_keep=1)
        self._cache = out.past_key_values
        self._cache_ids.extend(ids)
        return out.logits[0, -1]

    def _prefill(self, prompt: Prompt, images: Sequence[Image.Image], budget: int) -> tuple[torch.Tensor, int, int]:
        """Logits after the prompt; (logits, tokens run, tokens reused). Sliding-window layers cannot be cropped
        once they are full, so when the answer may fill them the prompt's cache is copied first."""
        text, imgs = self.loaded.render(prompt_content(prompt, images))
        inputs = self.loaded._encode([text], [imgs])
        ids = inputs["input_ids"][0].tolist()
        keys = tuple(hashlib.sha256(im.convert("RGB").tobytes()).digest() + bytes(str(im.size), "ascii")
                     for im in imgs)
        n = self._reusable(ids, keys)
        if n == 0:
            self._cache, self._cache_ids = None, []
            extra = {k: v.to(self.loaded.device) for k, v in inputs.items() if k not in ("input_ids",)}
            if "pixel_values" in extra:
                extra["pixel_values"] = extra["pixel_values"].to(self.loaded._dtype())
            logits = self._forward(ids, extra)
        else:
            drop = len(self._cache_ids) - n
            if drop:
                self._cache.crop(-drop)
                del self._cache_ids[n:]
            logits = self._forward(ids[n:])
        self._cache_images = keys
        self._snapshot = None
        if self.reuse_cache and len(ids) + budget > self.max_cached and len(ids) <= self.max_cached:
            self._snapshot = (copy.deepcopy(self._cache), list(self._cache_ids))
        return logits, len(ids) - n, n

    # ---------------------------------------------------------------- decoding
    def generate(self, prompt: Prompt, images: Sequence[Image.Image], sampling: StageSampling, seed: int,
                 grammar: str | None = None) -> StageResult:
        import torch

        t0 = time.perf_counter()
        loaded = self.loaded
        stop = set(loaded.stop_ids)
        device = loaded.device
        gen = torch.Generator(device=device).manual_seed(int(seed)) if sampling.temperature > 0 else None
        constraint = (Constraint(loaded.tokenizer, loaded.stop_ids, grammar, self.vocab_size)
                      if grammar is not None else None)
        was_training = loaded.model.training
        loaded.model.eval()
        out: list[int] = []
        passes = forced = sampled = 0
        last_complete, truncated = 0, False
        try:
            with torch.inference_mode():
                budget = sampling.max_new_tokens
                logits, prefill, reused = self._prefill(prompt, images, budget)
                passes += 1
                while True:
                    if len(out) >= budget:
                        truncated = True
                        break
                    allowed = constraint.allowed_tensor(logits.device) if constraint is not None else None
                    token = sample_token(logits, sampling.temperature, sampling.top_p, gen, allowed)
                    sampled += 1
                    if token in stop:
                        break
                    feed = [token]
                    out.append(token)
                    if constraint is not None:
                        constraint.consume(feed)
                        if self.jump_forward and not constraint.finished:
                            ff = constraint.forced()[: budget - len(out)]
                            if ff:
                                constraint.consume(ff)
                                out.extend(ff)
                                feed += ff
                                forced += len(ff)
                        if constraint.accepting:
                            last_complete = len(out)
                        if constraint.finished:
                            break  # the grammar admits nothing more: no pass for the stop token
                    if len(out) >= budget:
                        truncated = True
                        break
                    logits = self._forward(feed)
                    passes += 1
        finally:
            loaded.model.train(was_training)
        if constraint is not None and truncated and last_complete < len(out):
            out = out[:last_complete]  # the budget ran out mid-step: keep the complete steps (they parse)
        text = loaded.tokenizer.decode(out, skip_special_tokens=True)
        return StageResult(text, out, time.perf_counter() - t0, passes, prefill, reused, sampled + forced, forced,
                           truncated)

"""Stage generators: how one prompt of the policy (sub-tasks, plan, action) becomes text.

Two implementations behind one call, `generate(prompt, images, sampling, seed, grammar=None) -> StageResult`:

- `NaiveGenerator`: the baseline; one plain `model.generate` per stage (`LoadedModel.generate_prompt`), nothing
  reused, never constrained.
- `FastGenerator`: a hand-rolled decode loop over the model's decoder that
  * keeps the KV cache of the last sequence and reuses its longest common prefix with the next prompt (the image
    and instruction shared by the sub-task, plan and action prompts, and by a retry on the same image); a prefix
    is reused only when it ends after the images it contains and those images are identical;
  * decodes under a grammar when given one (`harness.policy.grammar`): the output always parses;
  * jump-forward: tokens the grammar forces are appended without sampling and fed in the same forward pass as the
    sampled token before them; once the grammar admits nothing more, decoding stops without a step for the stop
    token;
  * restricted logits: the decoder returns hidden states and the output projection is applied only where needed
    (the positions being decided) and, under a grammar that allows few tokens, only to those tokens' rows;
  * prompt-lookup speculation: where the last tokens occurred before (in the prompt or the text so far: object
    names, repeated action phrases), the tokens that followed them are fed as a draft in the same pass and each is
    accepted with the probability sampling would give it, otherwise replaced by a draw from the rest; the output
    is distributed exactly as without drafts (identical under greedy decoding), only fewer passes produce it;
  * samples with temperature, top-k and top-p exactly as `transformers`' warpers do (in that order, over the
    allowed tokens), every random draw through one `Draws` seeded per call on the model's device, so the same seed
    gives the same text.

`ForwardCounter` counts decoder forward passes and the tokens they process with a hook on the language model, the
same way for both generators (the benchmark's measure).
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from harness.data.templates import Prompt
from harness.models.loaded import LoadedModel, prompt_content
from harness.policy.grammar import Constraint
from harness.specs.model import StageSampling

if TYPE_CHECKING:
    import torch
    from PIL import Image


# the counters of a stage's cost that the trial log records (per stage and summed over a cycle)
COST_COUNTS = ("forward_passes", "prefill_tokens", "reused_tokens", "generated_tokens", "forced_tokens", "draft_tokens",
               "accepted_tokens")


@dataclass(kw_only=True)
class StageResult:
    """One stage's text and what producing it cost (keyword-only: a dozen counters are easy to misplace)."""

    text: str
    ids: list[int]  # generated ids (a sampled stop token excluded)
    wall_s: float = 0.0
    forward_passes: int = 0  # decoder forward passes
    prefill_tokens: int = 0  # prompt tokens run through the decoder
    reused_tokens: int = 0  # prompt tokens whose keys/values came from the cache instead
    generated_tokens: int = 0  # tokens produced: sampled (a stop token included) or forced
    forced_tokens: int = 0  # of which appended by jump-forward without sampling
    truncated: bool = False  # the token budget ran out first
    draft_tokens: int = 0  # tokens proposed by prompt lookup and verified
    accepted_tokens: int = 0  # of which accepted (part of generated_tokens)
    decode_tokens: int = 0  # tokens run through the decoder after the prompt (fed back, forced or drafted)
    step_bound: bool = False  # an action chunk reached the grammar's step bound (`generation.max_action_steps`)

    @property
    def cut(self) -> bool:
        """A bound, not the model, ended the text (what followed it is lost)."""
        return self.truncated or self.step_bound

    def stats(self, prefix: str) -> dict[str, float]:
        """The stage's cost as the trial log's `<prefix>_<counter>` floats (and whether a bound cut it)."""
        keys = ("wall_s", *COST_COUNTS)
        return {**{f"{prefix}_{k}": float(getattr(self, k)) for k in keys}, f"{prefix}_truncated": float(self.cut)}

    @staticmethod
    def totals(stages: Sequence[StageResult]) -> dict[str, float]:
        """Each counter of `COST_COUNTS` summed over several stages (a cycle's cost)."""
        return {k: float(sum(getattr(s, k) for s in stages)) for k in COST_COUNTS}


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
                                               temperature=sampling.temperature, top_p=sampling.top_p,
                                               top_k=sampling.top_k, seed=seed)
        wall = time.perf_counter() - t0
        # generate: one prefill pass over the prompt, then one pass per further token; every pass yields one token
        prefill = c.tokens - (c.calls - 1)
        return StageResult(text=text, ids=[], wall_s=wall, forward_passes=c.calls, prefill_tokens=prefill,
                           generated_tokens=c.calls, truncated=c.calls >= sampling.max_new_tokens,
                           decode_tokens=c.calls - 1)


# ---------------------------------------------------------------------------------------------------- sampling
TOP_K_FIRST = 256  # top-p is resolved inside the top 256 tokens when they hold enough mass (exact either way)


class Draws:
    """Every random draw of the decoder, on its generator's device.

    PyTorch refuses a generator whose device differs from the tensor it fills (a CUDA generator cannot draw a CPU
    `torch.rand`), and a draw made without naming a device lands on the CPU. Keeping the generator, its device and
    the only calls to torch's random functions here means no other line of the policy can make that mistake (a test
    checks that no other policy module calls them)."""

    def __init__(self, generator: torch.Generator):
        self.generator = generator
        self.device = generator.device

    @classmethod
    def seeded(cls, seed: int, device: str | torch.device = "cpu") -> Draws:
        """A fresh generator on `device` (the model's: the scores sampled from live there) seeded with `seed`."""
        import torch

        return cls(torch.Generator(device=device).manual_seed(int(seed)))

    def uniform(self) -> float:
        """One number uniform in [0, 1), drawn on the generator's device."""
        import torch

        return float(torch.rand((), generator=self.generator, device=self.device))

    def categorical(self, weights: torch.Tensor) -> int:
        """An index drawn with probability proportional to `weights` (unnormalised, on the generator's device: the
        model's scores are)."""
        import torch

        return int(torch.multinomial(weights, 1, generator=self.generator))


def nucleus(scores: torch.Tensor, temperature: float, top_p: float,
            top_k: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The sampling distribution as transformers' warpers make it: (weights, positions in `scores`), in their order:
    temperature, then top-k (the `top_k` most likely tokens; 0 = off), then top-p over what is left (HF keeps a token
    when the probability mass strictly before it, in descending order, is below top_p). Weights are unnormalised
    inside the nucleus. `temperature > 0`. A tie at the k-th score keeps the first position only (HF keeps every
    tied token; with real-valued logits ties are rare)."""
    import torch

    probs = torch.softmax(scores.float() / temperature, dim=-1)
    if 0 < top_k < probs.numel():
        top, order = torch.topk(probs, top_k)
        if top_p >= 1.0:
            return top, order
        top = top / top.sum()  # top-p reads the distribution the top-k warper left (renormalised)
    else:
        if top_p >= 1.0:
            return probs, torch.arange(probs.numel(), device=probs.device)
        k = min(TOP_K_FIRST, probs.numel())
        top, order = torch.topk(probs, k)
        if k < probs.numel() and float(top.sum()) < top_p:
            top, order = torch.sort(probs, descending=True)
    keep = (torch.cumsum(top, 0) - top) < top_p
    return top[keep], order[keep]


def draw(scores: torch.Tensor, sampling: StageSampling, draws: Draws | None) -> int:
    """A position of `scores`: greedy when the temperature is 0, else sampled from `nucleus`."""
    import torch

    if sampling.temperature <= 0:
        return int(torch.argmax(scores))
    if draws is None:
        raise ValueError("sampling (temperature > 0) needs a Draws")
    weights, where = nucleus(scores, sampling.temperature, sampling.top_p, sampling.top_k)
    return int(where[draws.categorical(weights)])


def verify_draft(scores: torch.Tensor, sampling: StageSampling, draws: Draws | None,
                 proposed: int | None) -> tuple[bool, int]:
    """Speculative sampling against a deterministic draft: (accepted, position). The draft's position is accepted
    with the probability `draw` would give it, else a position is drawn from the rest of the distribution, so the
    result is distributed exactly as `draw`'s (greedy: accepted iff it is the argmax). `proposed` None: not allowed."""
    import torch

    if sampling.temperature <= 0:
        best = int(torch.argmax(scores))
        return best == proposed, best
    if draws is None:
        raise ValueError("sampling (temperature > 0) needs a Draws")
    weights, where = nucleus(scores, sampling.temperature, sampling.top_p, sampling.top_k)
    hit = (where == proposed).nonzero() if proposed is not None else where[:0]
    if hit.numel():
        total = float(weights.sum())
        p = float(weights[hit[0, 0]]) / total
        if draws.uniform() < p:
            return True, int(proposed)
        weights = weights.clone()
        weights[hit[0, 0]] = 0.0
        if float(weights.sum()) <= 0.0:  # rounding: the draft held all the mass
            return True, int(proposed)
    return False, int(where[draws.categorical(weights)])


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading ids `a` and `b` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def lookup_draft(context: Sequence[int], k: int, max_ngram: int = 3) -> list[int]:
    """Up to `k` tokens that followed the most recent earlier occurrence of the context's last n tokens (n from
    `max_ngram` down to 1; the longest match wins): prompt-lookup drafting, no draft model needed."""
    size = len(context)
    for n in range(min(max_ngram, size - 1), 0, -1):
        tail = list(context[size - n:])
        for j in range(size - n - 1, -1, -1):
            if context[j] == tail[0] and list(context[j:j + n]) == tail:
                return list(context[j + n: j + n + k])
    return []


# ---------------------------------------------------------------------------------------------------- fast path
@dataclass
class _Run:
    """One `FastGenerator.generate` call: what it decodes under, what it has produced, and its counts so far."""

    sampling: StageSampling
    budget: int  # the token budget (`sampling.max_new_tokens`)
    stop: set[int]  # stop token ids (a sampled one ends the text, excluded from it)
    draws: Draws | None  # None under greedy decoding
    constraint: Constraint | None  # the grammar's state, when decoding under one
    prompt_ids: list[int] = field(default_factory=list)
    out: list[int] = field(default_factory=list)  # the ids produced so far (accepted, sampled, forced)
    last_complete: int = 0  # len(out) when the grammar last accepted (a complete step)
    truncated: bool = False  # the budget ran out first
    passes: int = 0
    prefill_tokens: int = 0
    reused_tokens: int = 0
    sampled: int = 0  # fresh tokens drawn (a stop token included)
    forced: int = 0
    drafted: int = 0
    accepted: int = 0
    decode_tokens: int = 0

    @property
    def room(self) -> int:
        """Tokens the budget still allows."""
        return self.budget - len(self.out)


RESTRICT_BELOW = 0.25  # gather the allowed rows of the output projection when they are under this share of the vocab


class FastGenerator:
    """The optimized decode loop (see the module doc). Holds one KV cache: not thread-safe, one per policy."""

    name = "optimized"

    def __init__(self, loaded: LoadedModel, *, reuse_cache: bool = True, jump_forward: bool = True,
                 restrict_logits: bool = True, draft_tokens: int = 8):
        self.loaded, self.reuse_cache, self.jump_forward = loaded, reuse_cache, jump_forward
        self.restrict_logits, self.draft_tokens = restrict_logits, int(draft_tokens)
        model = loaded.base_model()
        config = model.config
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        self.image_token_id = getattr(config, "image_token_id", None)
        self.vocab_size = int(text.vocab_size)
        windows = [getattr(text, "sliding_window", None)] if "sliding" in str(getattr(text, "layer_types", "")) else []
        self.max_cached = min([w - 1 for w in windows if w] or [1 << 30])  # sliding layers cannot crop past this
        # the decoder stack without the output projection (which this loop applies itself, to fewer rows/positions)
        self._body = getattr(model, "model", None)
        self._head = model.get_output_embeddings()
        if self._body is None or self._head is None:
            raise TypeError(f"{type(model).__name__}: the fast decoder needs a model with a `.model` decoder stack and "
                            "an output projection (Gemma-3 image-text models have both)")
        plain = type(self._head).__name__ == "Linear" and getattr(self._head, "bias", None) is None
        self._head_weight = self._head.weight if plain else None
        self.reset()

    @classmethod
    def from_spec(cls, loaded: LoadedModel) -> FastGenerator:
        """Configured by the model spec's `generation` block."""
        g = loaded.spec.generation
        return cls(loaded, reuse_cache=g.reuse_prefix_cache, jump_forward=g.jump_forward,
                   restrict_logits=g.restrict_logits, draft_tokens=g.draft_tokens)

    def reset(self) -> None:
        """Forget the cached sequence (the next prompt is prefilled in full)."""
        self._cache: Any = None
        self._recording = False  # the cache keeps states past its sliding windows until cropped (drafts roll back)
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
        # the last prompt token is always run: its logits start the answer
        n = min(common_prefix(self._cache_ids, ids), len(ids) - 1)
        image_end = self._image_end(ids)
        if image_end and (n < image_end or images != self._cache_images):
            return 0  # a prefix cut inside the image block, or over different images, is not the same prefix
        return n

    def _drop(self, n: int) -> None:
        """Remove the last `n` tokens from the cache. A cache that records past states (for rejected drafts) is also
        trimmed back to its sliding windows, even when `n` is 0."""
        if n > 0 or self._recording:
            self._cache.crop(-n)
        if n > 0:
            del self._cache_ids[-n:]

    def _forward(self, ids: list[int], extra: dict[str, Any] | None = None, keep: int = 1) -> torch.Tensor:
        """Run `ids` on top of the cache; the last `keep` positions' final hidden states, [keep, hidden]."""
        import torch

        inputs = {"input_ids": torch.tensor([ids], device=self.loaded.device), **(extra or {})}
        # `cache=` / `.cache`: the names transformers 5.24+ use (`past_key_values` is deprecated, removed in 5.40)
        out = self._body(**inputs, cache=self._cache, use_cache=True, return_dict=True)
        if out.cache is not self._cache:  # a new cache: let its sliding layers roll back drafts
            self._recording = self.draft_tokens > 0 and hasattr(out.cache, "activate_past_recording")
            if self._recording:
                out.cache.activate_past_recording()
        self._cache = out.cache
        self._cache_ids.extend(ids)
        return out.last_hidden_state[0, -keep:]

    def _scores(self, hidden: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
        """Logits at one position: of every token, or of the `allowed` ids in their order."""
        if allowed is not None and self.restrict_logits and self._head_weight is not None \
                and allowed.numel() < RESTRICT_BELOW * self.vocab_size:
            return self._head_weight.index_select(0, allowed) @ hidden
        logits = self._head(hidden)
        return logits if allowed is None else logits.index_select(0, allowed)

    def _prefill(self, prompt: Prompt, images: Sequence[Image.Image],
                 budget: int) -> tuple[torch.Tensor, list[int], int, int]:
        """Hidden state after the prompt; (hidden [1, d], prompt ids, tokens run, tokens reused). Sliding-window
        layers cannot be cropped once they are full, so when the answer may fill them the prompt's cache is copied
        first."""
        text, imgs = self.loaded.render(prompt_content(prompt, images))
        inputs = self.loaded.encode([text], [imgs])
        ids = inputs["input_ids"][0].tolist()
        keys = tuple(hashlib.sha256(im.convert("RGB").tobytes()).digest() + bytes(str(im.size), "ascii")
                     for im in imgs)
        n = self._reusable(ids, keys)
        if n == 0:
            self._cache, self._cache_ids = None, []
            extra = {k: v for k, v in self.loaded.on_device(inputs).items() if k != "input_ids"}
            hidden = self._forward(ids, extra)
        else:
            self._drop(len(self._cache_ids) - n)
            hidden = self._forward(ids[n:])
        self._drop(0)
        self._cache_images = keys
        self._snapshot = None
        if self.reuse_cache and len(ids) + budget > self.max_cached and len(ids) <= self.max_cached:
            self._snapshot = (copy.deepcopy(self._cache), list(self._cache_ids))
        return hidden, ids, len(ids) - n, n

    def _draft(self, context: list[int], constraint: Constraint | None, room: int, feed: int,
               stop: set[int]) -> list[int]:
        """Prompt-lookup draft to ride along with `feed` tokens in the next pass: within the token budget (`room`),
        the cache's croppable window, the grammar, and before any stop token."""
        window = (1 << 30) if self._recording else self.max_cached - len(self._cache_ids) - feed
        k = min(self.draft_tokens, room, window)
        if k <= 0:
            return []
        draft = lookup_draft(context, k)
        for i, t in enumerate(draft):
            if t in stop or t >= self.vocab_size or t == self.image_token_id:
                draft = draft[:i]
                break
        if constraint is not None and draft:
            draft = draft[: constraint.admits(draft)]
        return draft

    # ---------------------------------------------------------------- decoding
    def generate(self, prompt: Prompt, images: Sequence[Image.Image], sampling: StageSampling, seed: int,
                 grammar: str | None = None) -> StageResult:
        """Prefill the prompt, then one pass per step until a stop token, the grammar's end or the budget; each
        pass feeds the tokens `_step` decided (a fresh token and those the grammar forces after it) and a draft."""
        import torch

        t0 = time.perf_counter()
        run = self._start(sampling, seed, grammar)
        model = self.loaded.model
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                hidden, run.prompt_ids, run.prefill_tokens, run.reused_tokens = self._prefill(prompt, images,
                                                                                              run.budget)
                run.passes += 1
                draft: list[int] = []
                while (feed := self._step(run, hidden, draft)) is not None:
                    draft = self._draft(run.prompt_ids + run.out, run.constraint, run.room - 1, len(feed), run.stop)
                    hidden = self._forward(feed + draft, keep=len(draft) + 1)
                    run.passes += 1
                    run.decode_tokens += len(feed) + len(draft)
        finally:
            model.train(was_training)
        return self._finish(run, time.perf_counter() - t0)

    def _start(self, sampling: StageSampling, seed: int, grammar: str | None) -> _Run:
        """The state of one call: its seeded draws (sampling only) and its grammar's constraint (if any)."""
        loaded = self.loaded
        return _Run(sampling=sampling, budget=sampling.max_new_tokens, stop=set(loaded.stop_ids),
                    draws=Draws.seeded(seed, loaded.device) if sampling.temperature > 0 else None,
                    constraint=(Constraint(loaded.tokenizer, loaded.stop_ids, grammar, self.vocab_size)
                                if grammar is not None else None))

    def _step(self, run: _Run, hidden: torch.Tensor, draft: list[int]) -> list[int] | None:
        """Decide what the last pass's `hidden` rows say: the draft's accepted tokens, then one fresh token and the
        tokens the grammar forces after it. The tokens to feed in the next pass, or None when decoding is done."""
        token = self._verify_drafts(run, hidden, draft)
        if token is None:  # the grammar finished inside the draft, or the budget ran out
            return None
        run.sampled += 1
        if token in run.stop:
            return None
        feed = self._advance_grammar(run, token)
        if run.constraint is not None and run.constraint.finished:
            return None  # the grammar admits nothing more: no pass for the stop token
        if run.room <= 0:
            run.truncated = True
            return None
        return feed

    def _verify_drafts(self, run: _Run, hidden: torch.Tensor, draft: list[int]) -> int | None:
        """hidden[i] decides draft[i]: each accepted token is appended; the row after the last accepted one (a
        rejected draft token's, or the row past the draft) decides a fresh token, returned. None when the budget ran
        out or the grammar finished first. The cache drops the rejected part of the draft."""
        token, taken = None, 0
        for i in range(len(draft) + 1):
            if run.room <= 0:
                run.truncated = True
                break
            allowed = run.constraint.allowed_tensor(hidden.device) if run.constraint is not None else None
            scores = self._scores(hidden[i], allowed)
            if i == len(draft):
                token = _token(draw(scores, run.sampling, run.draws), allowed)
                break
            ok, pick = verify_draft(scores, run.sampling, run.draws, _position(draft[i], allowed))
            if not ok:
                token = _token(pick, allowed)
                break
            taken += 1
            if self._accept_draft_token(run, draft[i]):
                break
        run.drafted += len(draft)
        run.accepted += taken
        self._drop(len(draft) - taken)
        return token

    @staticmethod
    def _accept_draft_token(run: _Run, token: int) -> bool:
        """Append an accepted draft token and advance the grammar over it; True when the grammar has finished."""
        run.out.append(token)
        if run.constraint is None:
            return False
        run.constraint.consume([token])
        if run.constraint.accepting:
            run.last_complete = len(run.out)
        return run.constraint.finished

    def _advance_grammar(self, run: _Run, token: int) -> list[int]:
        """Append a fresh token and advance the grammar over it, then jump forward over the tokens it forces next
        (within the budget). The tokens appended, all fed in the next pass."""
        feed = [token]
        run.out.append(token)
        constraint = run.constraint
        if constraint is None:
            return feed
        constraint.consume(feed)
        if self.jump_forward and not constraint.finished:
            forced = constraint.forced()[: run.room]
            if forced:
                constraint.consume(forced)
                run.out.extend(forced)
                feed += forced
                run.forced += len(forced)
        if constraint.accepting:
            run.last_complete = len(run.out)
        return feed

    def _finish(self, run: _Run, wall_s: float) -> StageResult:
        """The stage's result; a constrained text the budget cut mid-step keeps its complete steps (they parse)."""
        out = run.out
        if run.constraint is not None and run.truncated and run.last_complete < len(out):
            out = out[: run.last_complete]
        return StageResult(text=self.loaded.tokenizer.decode(out, skip_special_tokens=True), ids=out, wall_s=wall_s,
                           forward_passes=run.passes, prefill_tokens=run.prefill_tokens,
                           reused_tokens=run.reused_tokens, generated_tokens=run.sampled + run.forced + run.accepted,
                           forced_tokens=run.forced, truncated=run.truncated, draft_tokens=run.drafted,
                           accepted_tokens=run.accepted, decode_tokens=run.decode_tokens)


def _position(token: int, allowed: torch.Tensor | None) -> int | None:
    """Where `token` sits among the scores: its id without a grammar, its index in the sorted `allowed` ids with one
    (None when the grammar does not allow it)."""
    if allowed is None:
        return token
    import torch

    i = int(torch.searchsorted(allowed, token))
    return i if i < allowed.numel() and int(allowed[i]) == token else None


def _token(pick: int, allowed: torch.Tensor | None) -> int:
    """The token id at position `pick` of the scores (of every token, or of the `allowed` ids)."""
    return int(allowed[pick]) if allowed is not None else pick

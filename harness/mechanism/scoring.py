"""Teacher-forced log-probabilities of target tokens: the one computation Fig. 3 and the knowledge probe share.

A batch carries `labels` (IGNORE_INDEX on every position that is not a target, as `LoadedModel.build_inputs`
writes them); the logits are computed only at positions that predict a target (`harness.train.loss.target_logits`,
the same path as the training loss), and log p(token) = logit - logsumexp(logits) over the model's whole output.
"""

from __future__ import annotations

from typing import Any

from harness.models.loaded import IGNORE_INDEX
from harness.train.loss import target_logits


def to_model(batch: dict[str, Any], model: Any) -> dict[str, Any]:
    """The batch's tensors on the model's device, images in its dtype (bf16 on a GPU); anything else (a KV cache)
    as it is."""
    import torch

    param = next(model.parameters())
    out = {k: v.to(param.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    if "pixel_values" in out:
        out["pixel_values"] = out["pixel_values"].to(param.dtype)
    return out


def token_logprobs(model: Any, batch: dict[str, Any]) -> list[Any]:
    """Per row of `batch`, the log-probability (nats, float32 on the CPU) of each labelled token given everything
    before it, in order. The model is put in eval mode for the call (no dropout) and restored afterwards."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            logits, targets = target_logits(model, to_model(batch, model))
            logits = logits.float()
            mask = targets != IGNORE_INDEX
            picked = logits.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
            logp = (picked - torch.logsumexp(logits, dim=-1)).cpu()
    finally:
        model.train(was_training)
    mask = mask.cpu()
    return [logp[i][mask[i]] for i in range(logp.shape[0])]

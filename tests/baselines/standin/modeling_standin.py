"""A stand-in for OpenVLA / ECoT (their 7B weights are not reachable here) with OpenVLA's `predict_action` signature.

`predict_action(input_ids, unnorm_key=None, **kwargs)` returns the 7-dim action un-normalised with the config's
`norm_stats[unnorm_key]` exactly as OpenVLA does (q01/q99, gripper unmasked); with `config.reasoning` it returns
(action, generated_ids) as ECoT's does. The action is a deterministic function of what the model was given
(`standin_action`), so a test can check that the image and prompt reached it.
"""

import numpy as np
import torch
from transformers import PreTrainedModel

from .configuration_standin import StandInConfig

REASONING = " PLAN: reach the object. MOVE: move forward. ACTION:"


def standin_action(pixel_mean: float, n_prompt_ids: int, stats: dict) -> np.ndarray:
    """Normalised action from the inputs, un-normalised as OpenVLA's `predict_action` does."""
    normalized = np.array([np.tanh(pixel_mean), 0.1, -0.2, 0.5 * np.sin(n_prompt_ids), 0.0, -0.5,
                           1.0 if pixel_mean > 0.0 else 0.0])
    q01, q99 = np.asarray(stats["q01"]), np.asarray(stats["q99"])
    mask = np.asarray(stats.get("mask", np.ones_like(q01, dtype=bool)))
    return np.where(mask, 0.5 * (normalized + 1) * (q99 - q01) + q01, normalized)


class StandInVLA(PreTrainedModel):
    config_class = StandInConfig

    def __init__(self, config):
        super().__init__(config)
        self.scale = torch.nn.Parameter(torch.ones(1))

    def _init_weights(self, module):
        pass

    def predict_action(self, input_ids=None, unnorm_key=None, pixel_values=None, attention_mask=None, **kwargs):
        if unnorm_key not in self.config.norm_stats:
            raise ValueError(f"unnorm_key {unnorm_key!r} not in {sorted(self.config.norm_stats)}")
        pixel_mean = float((pixel_values * self.scale).mean())
        action = standin_action(pixel_mean, int(input_ids.shape[1]), self.config.norm_stats[unnorm_key]["action"])
        if not self.config.reasoning:
            return action
        assert kwargs.get("max_new_tokens") == 1024, kwargs  # ECoT's budget for its chain of thought
        new = torch.tensor([list(REASONING.encode())], dtype=input_ids.dtype)
        return action, torch.cat([input_ids, new], 1)

    def generate(self, input_ids=None, pixel_values=None, attention_mask=None, max_new_tokens=20, **kwargs):
        answer = (b" yes" if float(pixel_values.mean()) > 0.0 else b" no")[:max_new_tokens]
        return torch.cat([input_ids, torch.tensor([list(answer)], dtype=input_ids.dtype)], 1)

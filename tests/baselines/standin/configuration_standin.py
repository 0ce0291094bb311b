"""Stand-in checkpoint config (remote code, loaded with trust_remote_code like OpenVLA's `configuration_prismatic`)."""

from transformers import PretrainedConfig


class StandInConfig(PretrainedConfig):
    model_type = "standin-vla"

    def __init__(self, norm_stats=None, reasoning=False, **kwargs):
        self.norm_stats = norm_stats or {}
        self.reasoning = reasoning  # True: predict_action returns (action, generated_ids) as ECoT's does
        super().__init__(**kwargs)

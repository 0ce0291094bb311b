"""Stand-in processor (remote code like OpenVLA's `processing_prismatic`): `processor(prompt, image)` -> a
BatchFeature of input_ids (the prompt's bytes), attention_mask and pixel_values in [-1, 1]; `batch_decode` -> text."""

import numpy as np
import torch
from transformers import BatchFeature


class StandInProcessor:
    @classmethod
    def register_for_auto_class(cls, auto_class="AutoProcessor"):
        pass

    @classmethod
    def from_pretrained(cls, path, **kwargs):
        return cls()

    def __call__(self, text, images, return_tensors="pt"):
        ids = torch.tensor([list(text.encode())], dtype=torch.long)
        pixels = torch.from_numpy(np.asarray(images.resize((16, 16)), dtype=np.float32) / 127.5 - 1.0)
        return BatchFeature({"input_ids": ids, "attention_mask": torch.ones_like(ids),
                             "pixel_values": pixels.permute(2, 0, 1)[None]})

    def batch_decode(self, ids, skip_special_tokens=False):
        return [bytes(int(i) for i in row).decode() for row in ids]

"""Write the stand-in checkpoint directory (run with the baseline environment's python): python make_checkpoint.py
OUT [--reasoning]. Remote code + config.json/preprocessor_config.json auto_maps, as OpenVLA's hub repo has."""

import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

HERE = Path(__file__).parent
BRIDGE = {"action": {"q01": [-0.03, -0.04, -0.03, -0.15, -0.2, -0.25, 0.0],
                     "q99": [0.03, 0.04, 0.035, 0.15, 0.2, 0.25, 1.0],
                     "mask": [True, True, True, True, True, True, False]}}


def main(out: str, reasoning: bool) -> None:
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("configuration_standin.py", "modeling_standin.py", "processing_standin.py"):
        shutil.copy(HERE / name, out_dir / name)
    config = {"model_type": "standin-vla", "architectures": ["StandInVLA"], "reasoning": reasoning,
              "norm_stats": {"bridge_orig": BRIDGE},
              "auto_map": {"AutoConfig": "configuration_standin.StandInConfig",
                           "AutoModelForVision2Seq": "modeling_standin.StandInVLA"}}
    (out_dir / "config.json").write_text(json.dumps(config, indent=1))
    (out_dir / "preprocessor_config.json").write_text(json.dumps(
        {"auto_map": {"AutoProcessor": "processing_standin.StandInProcessor"}, "processor_class": "StandInProcessor"}))
    save_file({"scale": torch.ones(1)}, str(out_dir / "model.safetensors"), metadata={"format": "pt"})


if __name__ == "__main__":
    main(sys.argv[1], "--reasoning" in sys.argv[2:])

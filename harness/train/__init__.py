"""Training: the LoRA / full fine-tuning recipe over D_lan (setup -> train -> save -> cleanup)."""

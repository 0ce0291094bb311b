"""VLM2VLA harness: actions as language for vision-language-action policies."""

__version__ = "0.1.0"

"""`make gpu-check`: one script that exercises every CUDA path of the harness on one GPU and prints one table.

Planned for an offline GPU machine that has torch, transformers, peft and accelerate but nothing else: it runs from
the checkout with a small wheel directory (`make gpu-wheels`, `harness.gpucheck.wheels`) and needs no weights -
`tiny`, and a randomly initialised model with the exact Gemma-3-12B-IT architecture (`harness.gpucheck.arch`):
random weights exercise the same kernels and time the real architecture. Every row runs in its own subprocess
(`harness.gpucheck.rows`), so its peak GPU memory is its own and a crash or OOM fails one row, not the table.
Nothing here asserts package versions at import: the check must run with whatever the machine has.
"""

"""The paper's mechanism, measured: how likely actions are under the untuned model (Fig. 3), and how much knowledge
fine-tuning on each action representation costs (the forgetting grid).

Sits above models/train and below the CLI: `logprob` (Fig. 3 rows), `probes` (knowledge probe scored by
likelihood), `actions` (held-out action quality), `grid` (the four-arm forgetting ablation).
"""

"""VQA forgetting through VLMEvalKit: the paper's suite and an offline embedded one, scored by VLMEvalKit itself.

Modules: `embedded` (the generated suite), `data` (LMUData and md5 checks), `kit` (importing VLMEvalKit with its
side effects undone), `adapter` (our models as a VLMEvalKit model), `predict` (batched, resumable predictions),
`judge`, `scores` (tidy rows, retention), `runner` (a run end to end), `bench` (batched vs one at a time).
Only `embedded`, `data`, `judge` and `scores` can be imported without VLMEvalKit installed.
"""

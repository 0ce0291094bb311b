"""VQA forgetting through VLMEvalKit: the paper's suite and an offline generated one, scored by VLMEvalKit itself.

Modules: `generated` (writes the offline suite, spec `embedded`), `data` (LMUData and md5 checks), `kit`
(importing VLMEvalKit with its side effects undone), `adapter` (our models as a VLMEvalKit model), `predict`
(batched, resumable predictions), `judge`, `scores` (tidy rows, retention), `runner` (a run end to end), `bench`
(batched vs one at a time).
Only `generated`, `data`, `judge` and `scores` can be imported without VLMEvalKit installed.
"""

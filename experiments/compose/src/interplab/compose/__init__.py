"""Experiments that only a shared workbench can run: one package's method on another's models.

- ``compose.robustness-of-segmenters``: the robustness package's block interventions on the
  seglabels segmenters' encoders; how label-quality AUPRC and mIoU degrade.
- ``compose.stages-in-algorithmic-transformers``: a small transformer trained on a MIPS task,
  swept and logit-lensed by the robustness package, next to the RNN's MIPS program.
- ``compose.label-quality-of-next-tokens``: the seglabels image scores applied to a language
  model's per-token likelihoods, ranking documents with injected corruptions.

Each is an analysis registered under ``interplab.analyses`` and has a spec in ``experiments/``.
"""

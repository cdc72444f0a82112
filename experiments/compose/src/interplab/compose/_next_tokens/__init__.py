"""Parts of ``compose.label-quality-of-next-tokens``: documents, corruptions, scoring, figures.

- :mod:`.documents`: snippets of source files cut to a token budget, and the corruptions
  injected into some of them (with a record of which document got which);
- :mod:`.scoring`: a language model's next-token probabilities as a lazily computed
  (N, V, 1, T) ``pred_probs`` and every seglabels image score of each document;
- :mod:`.plots`: AUPRC bars by intervention and precision-recall curves;
- :mod:`.tables`: the console table and the per-document CSV.
"""

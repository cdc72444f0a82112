"""Parts of ``compose.robustness-of-segmenters``: encoder sites, out-of-fold probabilities, plots.

- :mod:`.sites`: which residual blocks of a ResNet encoder can be deleted or swapped, and the
  out-of-fold ``pred_probs`` of the fold models under one such intervention, with their metrics.
- :mod:`.plots`: AUPRC and mIoU against the block's depth, and the console table.
"""

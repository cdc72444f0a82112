"""Parts of ``compose.stages-in-algorithmic-transformers``: encoding, training, probes, plots."""

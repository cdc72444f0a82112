"""The "stages of inference" analyses of Lad, Gurnee & Tegmark 2024 (arXiv 2406.19384), §8.

One module per stage, each a set of pure functions over a TransformerBridge and a token set:

- :mod:`.attention`: detokenization (attention locality, previous-token and subjoiner heads);
- :mod:`.logit_lens`: logit lens with an explicit normalisation (feature engineering → prediction);
- :mod:`.neurons`: prediction / suppression neuron census (prediction ensembling);
- :mod:`.sharpening`: how the last block changes the output entropy (residual sharpening);
- :mod:`.cka`: layer × layer CKA of the residual stream;
- :mod:`.plots`: their figures.

Activations are read by execution position with our own hooks, so every function also works
inside an intervention that deleted, swapped or repeated blocks.
"""

from interplab.robustness.stages.attention import (
    DetokenizationResult,
    LocalityResult,
    SubjoinerScores,
    attention_locality,
    detokenization_scores,
    previous_token_scores,
    subjoiner_scores,
    word_starts,
)
from interplab.robustness.stages.cka import CKAResult, linear_cka, residual_cka
from interplab.robustness.stages.logit_lens import LENS_MODES, LensResult, logit_lens
from interplab.robustness.stages.neurons import NeuronCensus, census_weights, neuron_census
from interplab.robustness.stages.sharpening import SharpeningResult, residual_sharpening

__all__ = [
    "LENS_MODES",
    "CKAResult",
    "DetokenizationResult",
    "LensResult",
    "LocalityResult",
    "NeuronCensus",
    "SharpeningResult",
    "SubjoinerScores",
    "attention_locality",
    "census_weights",
    "detokenization_scores",
    "linear_cka",
    "logit_lens",
    "neuron_census",
    "previous_token_scores",
    "residual_cka",
    "residual_sharpening",
    "subjoiner_scores",
    "word_starts",
]

"""Models: load any supported causal LM (zoo, folder, hub) as a TransformerBridge."""

from interplab.robustness.models.load import ZOO_PREFIX as ZOO_PREFIX
from interplab.robustness.models.load import load_model as load_model
from interplab.robustness.models.load import supported_architectures as supported_architectures

__all__ = ["ZOO_PREFIX", "load_model", "supported_architectures"]

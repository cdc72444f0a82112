"""The zoo: small GPT-2 and GPT-NeoX causal LMs of several depths, trained here, kept in cache.

Corpus: the running Python's standard library (:mod:`.corpus`); tokenizer: a byte-level BPE
trained on it (:mod:`.tokenizer`); models and recipes: :data:`ZOO` (:mod:`.specs`); training:
:func:`train_zoo_model` (:mod:`.train`). Load one as a TransformerBridge with
``interplab.robustness.load_model("zoo:gpt2-4l")``.
"""

from interplab.robustness.zoo.corpus import Document as Document
from interplab.robustness.zoo.corpus import corpus_digest as corpus_digest
from interplab.robustness.zoo.corpus import documents as documents
from interplab.robustness.zoo.specs import ZOO as ZOO
from interplab.robustness.zoo.specs import ZooSpec as ZooSpec
from interplab.robustness.zoo.specs import zoo_spec as zoo_spec
from interplab.robustness.zoo.tokenizer import token_stream as token_stream
from interplab.robustness.zoo.tokenizer import zoo_tokenizer as zoo_tokenizer
from interplab.robustness.zoo.train import HeldoutScore as HeldoutScore
from interplab.robustness.zoo.train import read_zoo_card as read_zoo_card
from interplab.robustness.zoo.train import train_zoo_model as train_zoo_model

__all__ = [
    "ZOO",
    "Document",
    "HeldoutScore",
    "ZooSpec",
    "corpus_digest",
    "documents",
    "read_zoo_card",
    "token_stream",
    "train_zoo_model",
    "zoo_spec",
    "zoo_tokenizer",
]

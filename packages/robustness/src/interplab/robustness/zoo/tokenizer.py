"""A byte-level BPE trained on the corpus's train split, and the corpus as token ids.

Byte-level, like GPT-2's: every string round-trips (``decode(encode(x)) == x``) and there is no
unknown token. ``<|endoftext|>`` has id 0 and is BOS, EOS and padding, as in GPT-2 and Pythia.
Both the tokenizer and the tokenized splits are kept in the core cache, keyed by the corpus
digest, the vocabulary size and the ``tokenizers`` version.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from interplab.core.errors import ConfigError
from interplab.robustness.zoo.corpus import Split, corpus_digest, documents

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerFast

    from interplab.core.cache import Cache

__all__ = ["END_OF_TEXT", "token_stream", "train_tokenizer", "zoo_tokenizer"]

END_OF_TEXT = "<|endoftext|>"
"""The one special token: id 0, used as BOS, EOS and padding."""


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4096) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on ``texts`` and wrap it for ``transformers``.

    Args:
        texts: training text, one string per document.
        vocab_size: final vocabulary size, ``<|endoftext|>`` and the 256 byte symbols included.

    Returns:
        A fast tokenizer with ``<|endoftext|>`` (id 0) as ``bos``, ``eos`` and ``pad`` token that
        adds no special tokens by itself (TransformerBridge's ``prepend_bos`` adds BOS).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 257:
        raise ConfigError(f"vocab_size={vocab_size} is below 257 (256 bytes + {END_OF_TEXT}).")
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[END_OF_TEXT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=END_OF_TEXT,
        eos_token=END_OF_TEXT,
        pad_token=END_OF_TEXT,
        clean_up_tokenization_spaces=False,
    )


def _tokenizer_key(vocab_size: int) -> dict[str, object]:
    import tokenizers

    return {
        "what": "robustness/zoo-tokenizer",
        "v": 1,
        "corpus": corpus_digest(),
        "vocab_size": vocab_size,
        "tokenizers": tokenizers.__version__,
    }


def zoo_tokenizer(vocab_size: int, *, cache: Cache) -> PreTrainedTokenizerFast:
    """The BPE trained on the train split of the corpus (trained once, then read from cache)."""
    from transformers import PreTrainedTokenizerFast

    def build(folder: object) -> None:
        texts = (doc.text for doc in documents("train"))
        train_tokenizer(texts, vocab_size).save_pretrained(str(folder))

    folder = cache.directory(_tokenizer_key(vocab_size), build)
    loaded: PreTrainedTokenizerFast = PreTrainedTokenizerFast.from_pretrained(str(folder))
    return loaded


def token_stream(split: Split, vocab_size: int, *, cache: Cache) -> torch.Tensor:
    """One split of the corpus as token ids, each document followed by ``<|endoftext|>``.

    Returns:
        int64 tensor ``[n_tokens]`` (cached as int32).
    """
    import numpy as np
    import torch

    def encode() -> torch.Tensor:
        tokenizer = zoo_tokenizer(vocab_size, cache=cache)
        texts = [doc.text for doc in documents(split)]
        encoded = tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=False)
        eot = tokenizer.convert_tokens_to_ids(END_OF_TEXT)
        ids = [np.asarray([*doc.ids, eot], dtype=np.int32) for doc in encoded]
        return torch.from_numpy(np.concatenate(ids))

    key = {**_tokenizer_key(vocab_size), "what": "robustness/zoo-tokens", "split": split}
    stream: torch.Tensor = cache.get_or_compute(key, encode)
    return stream.long()

"""Deterministic, batched, right-padded token sets with an explicit token budget.

Every row is a window of one document: BOS, then up to ``seq_len - 1`` of its tokens. A
document longer than that continues in further rows (consecutive, not overlapping, each behind
its own BOS, as the zoo was trained); with ``windows=False`` it is cut after its first row
instead, the paper's protocol (one row per document, cut at the context). Documents are taken in
the order given until the budget of real tokens is spent (the last row is cut to fit; a single
token left over is dropped, as it predicts nothing), so the same texts, tokenizer and budget
always give the same tokens. A budget the documents cannot fill is a warning, and the token set
holds what they gave (:attr:`TokenSet.n_tokens`). Rows are right-padded and carry a mask;
document ids and each row's offset in its document are kept, so every per-token metric can be
traced back to ``(doc_id, start + pos)``. Right padding is safe for causal models: a real
position never attends to a later pad, so only the metrics need the mask.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from interplab.core.errors import ConfigError

__all__ = ["TextDocument", "TokenBatch", "TokenSet", "check_fits", "context_length", "load_tokens"]


class TextDocument(Protocol):
    """Anything with a ``doc_id`` and a ``text`` (e.g. the zoo corpus's documents)."""

    doc_id: str
    text: str


@dataclass(frozen=True)
class TokenBatch:
    """One batch of documents.

    Attributes:
        ids: [batch, seq] token ids, right-padded with the pad id.
        mask: [batch, seq] bool, True at real tokens.
        doc_ids: [batch] document ids (several rows may share one: windows of a document).
        starts: [batch] where each row's text starts in its document, in tokens (its position
            1 is the document's token ``start``); empty means every row starts at 0.
    """

    ids: torch.Tensor
    mask: torch.Tensor
    doc_ids: tuple[str, ...]
    starts: tuple[int, ...] = ()

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def positions(self) -> torch.Tensor:
        """[batch, seq] position of each token in its row (BOS is 0)."""
        return torch.arange(self.ids.shape[1]).expand_as(self.ids)

    @property
    def targets(self) -> torch.Tensor:
        """[batch, seq - 1] the true next token of each prediction position."""
        return self.ids[:, 1:]

    @property
    def target_mask(self) -> torch.Tensor:
        """[batch, seq - 1] bool: prediction positions whose next token is real."""
        return self.mask[:, 1:]

    @property
    def n_tokens(self) -> int:
        """Real tokens in the batch (BOS included)."""
        return int(self.mask.sum())

    def to(self, device: torch.device | str) -> TokenBatch:
        """The batch with ``ids`` and ``mask`` on ``device``."""
        return TokenBatch(self.ids.to(device), self.mask.to(device), self.doc_ids, self.starts)


@dataclass(frozen=True)
class TokenSet:
    """All batches of one token budget, in a fixed order."""

    batches: tuple[TokenBatch, ...]
    token_budget: int
    seq_len: int
    bos_id: int
    pad_id: int

    def __iter__(self) -> Iterator[TokenBatch]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)

    @property
    def n_tokens(self) -> int:
        """Real tokens in all batches (BOS included)."""
        return sum(b.n_tokens for b in self.batches)

    @property
    def n_predictions(self) -> int:
        """Number of positions with a real next token (what the metrics average over)."""
        return sum(int(b.target_mask.sum()) for b in self.batches)


def context_length(model: Any) -> int | None:
    """The longest sequence ``model`` was built for, or None if it declares none.

    ``cfg.n_ctx`` of a TransformerBridge, or the position limit of a Hugging Face config.
    """
    cfg = getattr(model, "cfg", None)
    if cfg is not None and getattr(cfg, "n_ctx", None):
        return int(cfg.n_ctx)
    config = getattr(model, "config", None)
    for name in ("max_position_embeddings", "n_positions"):
        if isinstance(getattr(config, name, None), int):
            return int(getattr(config, name))
    return None


def _vocab_size(model: Any) -> int | None:
    cfg = getattr(model, "cfg", None)
    if cfg is not None and getattr(cfg, "d_vocab", None):
        return int(cfg.d_vocab)
    size = getattr(getattr(model, "config", None), "vocab_size", None)
    return int(size) if isinstance(size, int) else None


def check_fits(batches: Sequence[TokenBatch], model: Any) -> None:
    """Refuse token ids outside ``model``'s vocabulary and rows longer than its context.

    Raises:
        ConfigError: ids and mask of different shapes, an id outside the vocabulary (tokens of
            another tokenizer), or rows longer than the context (learned positions would fail,
            rotary ones would run silently on positions the model never saw).
    """
    d_vocab, n_ctx = _vocab_size(model), context_length(model)
    for batch in batches:
        if batch.ids.shape != batch.mask.shape or batch.ids.ndim != 2:
            raise ConfigError(
                f"TokenBatch ids {tuple(batch.ids.shape)} and mask {tuple(batch.mask.shape)} "
                "must both be [batch, seq]."
            )
        top = int(batch.ids.max())
        if d_vocab is not None and (top >= d_vocab or int(batch.ids.min()) < 0):
            raise ConfigError(
                f"token id {top} is outside the model's vocabulary (d_vocab={d_vocab}): the "
                "tokens were made with another tokenizer; tokenize with this model's tokenizer."
            )
        if n_ctx is not None and batch.ids.shape[1] > n_ctx:
            raise ConfigError(
                f"rows of {batch.ids.shape[1]} tokens exceed the model's context n_ctx={n_ctx}; "
                f"make the tokens with seq_len <= {n_ctx}."
            )


def _encode(tokenizer: Any, text: str) -> list[int]:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return list(ids)


def load_tokens(
    documents: Sequence[TextDocument] | Sequence[str],
    tokenizer: Any,
    *,
    token_budget: int,
    seq_len: int | None = None,
    batch_size: int = 8,
    windows: bool = True,
) -> TokenSet:
    """Tokenize ``documents`` into right-padded batches holding at most ``token_budget`` tokens.

    Args:
        documents: texts (ids become ``"0"``, ``"1"``, ...) or objects with ``doc_id``/``text``.
        tokenizer: a Hugging Face tokenizer, or a model with a ``tokenizer`` attribute (a
            TransformerBridge); it must define a BOS token.
        token_budget: real tokens in total, BOS included (>= 2).
        seq_len: longest row; longer documents are cut (the paper cuts at n_ctx). Default:
            the model's context length when ``tokenizer`` is a model, else 256; more than the
            model's context is an error.
        batch_size: rows per batch.
        windows: a document longer than a row continues in further rows (default); False cuts
            it after its first row (the paper's protocol).

    Warns:
        UserWarning: the documents hold fewer tokens than ``token_budget``.
    """
    if tokenizer is None:
        raise ConfigError(
            "tokenizer=None: pass the model (from load_model) or its Hugging Face tokenizer."
        )
    if isinstance(documents, str):
        raise ConfigError(
            f"documents is one string ({documents[:40]!r}…), which would read as one document "
            "per character; pass a list of texts, e.g. [text]."
        )
    _check_whole("token_budget", token_budget)
    _check_whole("seq_len", seq_len)
    _check_whole("batch_size", batch_size)
    n_ctx = context_length(tokenizer)
    if seq_len is None:
        seq_len = n_ctx or 256
    elif n_ctx is not None and seq_len > n_ctx:
        raise ConfigError(
            f"seq_len={seq_len} exceeds the model's context n_ctx={n_ctx}; use seq_len <= {n_ctx}."
        )
    tokenizer = getattr(tokenizer, "tokenizer", None) or tokenizer
    if token_budget < 2:
        raise ConfigError(
            f"token_budget={token_budget} is too small: a prediction needs at least 2 tokens "
            "(BOS and one more); use a budget of a few thousand tokens or more."
        )
    if seq_len < 2:
        raise ConfigError(f"seq_len={seq_len} must be at least 2 (BOS and one token).")
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size} must be at least 1.")
    bos = tokenizer.bos_token_id
    if bos is None:
        raise ConfigError(
            f"tokenizer {type(tokenizer).__name__} has no BOS token; the paper prepends BOS to "
            "every document: set tokenizer.bos_token (e.g. '<|endoftext|>')."
        )
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else bos
    rows: list[tuple[str, int, list[int]]] = []  # (doc id, start, BOS + tokens)
    spent = 0
    read = 0
    with_text = 0
    body = seq_len - 1
    for index, doc in enumerate(documents):
        read += 1
        doc_id, text = (str(index), doc) if isinstance(doc, str) else (doc.doc_id, doc.text)
        with_text += bool(text.strip())
        tokens = _encode(tokenizer, text)
        for start in range(0, len(tokens), body) if windows else range(min(len(tokens), 1)):
            ids = [bos, *tokens[start : start + body]][: token_budget - spent]
            if len(ids) < 2:
                break
            rows.append((doc_id, start, ids))
            spent += len(ids)
        if spent >= token_budget - 1:
            break
    if not rows and with_text:
        raise ConfigError(
            f"no tokens: the tokenizer ({type(tokenizer).__name__}, {len(tokenizer)} entries) "
            f"turned {with_text} non-empty documents into nothing. Was the model saved without "
            "its tokenizer? Save it beside the weights: tokenizer.save_pretrained(folder)."
        )
    if not rows:
        raise ConfigError(
            f"no tokens: the {read} documents read gave nothing to predict within "
            f"token_budget={token_budget}; pass non-empty documents."
        )
    if spent < token_budget - 1:
        cut = "" if windows else " (each cut after its first row: windows=False)"
        warnings.warn(
            f"token_budget={token_budget}, but the {read} documents hold only {spent} tokens "
            f"with BOS{cut}; using those {spent}. Pass more documents or a smaller budget.",
            stacklevel=2,
        )
    batches = []
    for first in range(0, len(rows), batch_size):
        chunk = rows[first : first + batch_size]
        width = max(len(ids) for _, _, ids in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.bool)
        for row, (_, _, tokens) in enumerate(chunk):
            ids[row, : len(tokens)] = torch.tensor(tokens)
            mask[row, : len(tokens)] = True
        doc_ids = tuple(doc_id for doc_id, _, _ in chunk)
        batches.append(TokenBatch(ids, mask, doc_ids, tuple(start for _, start, _ in chunk)))
    return TokenSet(tuple(batches), token_budget, seq_len, bos, pad)


def _check_whole(name: str, value: Any) -> None:
    """Refuse a ``value`` that is not a whole number (None passes: the default applies)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{name}={value!r} must be a whole number, e.g. {name}=4096.")

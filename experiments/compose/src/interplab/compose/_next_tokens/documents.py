"""Documents for the next-token experiment, and the corruptions injected into some of them.

A document is a run of consecutive lines of one source file (a *snippet*), short enough that
BOS plus its tokens fit the token budget per document. Some documents then get exactly one
corruption each, drawn from the run's seed:

- ``shuffle_lines``: a block of consecutive lines is permuted;
- ``random_tokens``: some token ids are replaced by uniformly drawn ones (never a special token);
- ``typos``: in some words two adjacent, different letters are swapped;
- ``paste``: a block of lines is replaced by lines of a snippet from another file.

Every corruption is recorded (:class:`Corruption`: document, kind, what changed) and is visible
to the model: a draw that leaves the document's tokens unchanged is drawn again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from interplab.core.errors import ConfigError

__all__ = [
    "KINDS",
    "Corpus",
    "Corruption",
    "CorruptionKind",
    "CorruptionRates",
    "Snippet",
    "SourceFile",
    "corrupt_corpus",
    "load_sources",
    "make_snippets",
]

CorruptionKind = Literal["shuffle_lines", "random_tokens", "typos", "paste"]
KINDS: tuple[CorruptionKind, ...] = ("shuffle_lines", "random_tokens", "typos", "paste")
MIN_LINES = 4
"""Non-blank lines a snippet needs (so that shuffling and pasting lines means something)."""
_ATTEMPTS = 20
_WORD = re.compile(r"[A-Za-z]{3,}")


@dataclass(frozen=True)
class SourceFile:
    """A text file of a corpus folder."""

    doc_id: str
    """Its name without the .txt suffix."""
    text: str


@dataclass(frozen=True)
class Snippet:
    """Consecutive lines of one source file."""

    doc_id: str
    """``<source>:<first line>-<last line>`` (1-based, inclusive)."""
    source: str
    """Id of the file it comes from."""
    text: str


@dataclass(frozen=True)
class CorruptionRates:
    """How many documents are corrupted and how strongly."""

    fraction: float = 0.3
    """Fraction of the documents that get one corruption."""
    token_rate: float = 0.05
    """``random_tokens``: fraction of a document's tokens replaced (at least one)."""
    typo_rate: float = 0.05
    """``typos``: fraction of a document's words (3+ letters) with two letters swapped (≥ 1)."""
    shuffle_fraction: float = 0.3
    """``shuffle_lines``: fraction of the lines in the permuted block (at least 3)."""
    paste_fraction: float = 0.3
    """``paste``: fraction of the lines replaced by another file's lines (at least 1)."""


@dataclass(frozen=True)
class Corruption:
    """What was done to one document."""

    document: int
    """Index of the document."""
    doc_id: str
    kind: CorruptionKind
    detail: dict[str, Any] = field(default_factory=dict)
    """JSON values: the lines, character offsets or token positions that changed."""

    def as_json(self) -> dict[str, Any]:
        """The corruption as JSON values."""
        return {"document": self.document, "doc_id": self.doc_id, "kind": self.kind,
                "detail": self.detail}  # fmt: skip


@dataclass(frozen=True)
class Corpus:
    """The documents as the model sees them, and the clean originals.

    Token lists start with BOS and hold at most ``seq_len`` ids.
    """

    doc_ids: tuple[str, ...]
    clean_ids: tuple[tuple[int, ...], ...]
    """Token ids of each document before corruption."""
    ids: tuple[tuple[int, ...], ...]
    """Token ids of each document as given to the model (corrupted where recorded)."""
    texts: tuple[str, ...]
    """Each document's text as given (decoded ids for ``random_tokens``)."""
    corruptions: tuple[Corruption, ...]
    """One per corrupted document, in document order."""
    seq_len: int

    @property
    def kinds(self) -> list[tuple[str, ...]]:
        """Per document, the corruption kinds it received (``()`` if clean)."""
        out: list[tuple[str, ...]] = [() for _ in self.doc_ids]
        for c in self.corruptions:
            out[c.document] = (c.kind,)
        return out

    @property
    def is_corrupted(self) -> np.ndarray:
        """Which documents got a corruption: bool (N,)."""
        out = np.zeros(len(self.doc_ids), dtype=bool)
        out[[c.document for c in self.corruptions]] = True
        return out

    def arrays(self, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, mask)``: int64 (N, L) right-padded with ``pad_id`` and bool (N, L).

        L is the longest document; ``mask`` is True at real tokens.
        """
        width = max(len(row) for row in self.ids)
        ids = np.full((len(self.ids), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(self.ids), width), dtype=bool)
        for i, row in enumerate(self.ids):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = True
        return ids, mask


def _encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def make_snippets(
    sources: Sequence[Any],
    tokenizer: Any,
    *,
    n_documents: int,
    max_tokens: int,
    seed: int,
    origin: str = "the corpus",
) -> list[Snippet]:
    """``n_documents`` non-overlapping snippets of at most ``max_tokens`` tokens each.

    Every file is cut into consecutive blocks of whole lines (as long as the budget allows,
    blank lines at the ends dropped; blocks with fewer than :data:`MIN_LINES` non-blank lines
    are skipped); ``n_documents`` of all blocks are drawn with the seed and kept in file order.

    Args:
        sources: objects with ``doc_id`` and ``text`` (e.g. the zoo's held-out files).
        tokenizer: a Hugging Face tokenizer.
        n_documents: how many snippets to return.
        max_tokens: most tokens per snippet (BOS not counted).
        seed: which blocks are drawn.
        origin: the corpus's name, for the error message.

    Raises:
        ConfigError: the sources give fewer than ``n_documents`` blocks.
    """
    candidates: list[Snippet] = []
    for source in sources:
        lines = source.text.split("\n")
        counts = [len(ids) for ids in tokenizer(lines, add_special_tokens=False)["input_ids"]]
        i = 0
        while i < len(lines):
            if not lines[i].strip():
                i += 1
                continue
            j, total = i, 0
            while j < len(lines) and total + counts[j] + 1 <= max_tokens:
                total += counts[j] + 1  # about one more token for the newline
                j += 1
            block = lines[i:j]
            while block and not block[-1].strip():
                block.pop()
            while block and len(_encode(tokenizer, "\n".join(block))) > max_tokens:
                block.pop()
            if sum(1 for line in block if line.strip()) >= MIN_LINES:
                doc_id = f"{source.doc_id}:{i + 1}-{i + len(block)}"
                candidates.append(Snippet(doc_id, str(source.doc_id), "\n".join(block)))
            i = max(j, i + 1)
    if len(candidates) < n_documents:
        raise ConfigError(
            f"n_documents={n_documents}, but {origin} gives only {len(candidates)} snippets of "
            f"{MIN_LINES}+ lines within {max_tokens} tokens each; lower n_documents, raise "
            "token_budget, or use a larger corpus."
        )
    rng = np.random.default_rng([seed, 0x5EED])
    chosen = np.sort(rng.choice(len(candidates), size=n_documents, replace=False))
    return [candidates[i] for i in chosen]


def _shuffle_lines(
    text: str, rng: np.random.Generator, rates: CorruptionRates, **_: Any
) -> tuple[str, dict[str, Any]]:
    lines = text.split("\n")
    n = len(lines)
    span = min(n, max(3, round(rates.shuffle_fraction * n)))
    start = int(rng.integers(0, n - span + 1))
    order = rng.permutation(span)
    block = lines[start : start + span]
    lines[start : start + span] = [block[k] for k in order]
    return "\n".join(lines), {"lines": [start, start + span], "order": order.tolist()}


def _typos(
    text: str, rng: np.random.Generator, rates: CorruptionRates, **_: Any
) -> tuple[str, dict[str, Any]]:
    words = [m for m in _WORD.finditer(text) if len(set(m.group())) > 1]
    if not words:
        return text, {}
    n = min(len(words), max(1, round(rates.typo_rate * len(words))))
    chars = list(text)
    offsets = []
    for w in np.sort(rng.choice(len(words), size=n, replace=False)):
        word = words[int(w)]
        spots = [k for k in range(len(word.group()) - 1) if word.group()[k] != word.group()[k + 1]]
        at = word.start() + spots[int(rng.integers(len(spots)))]
        chars[at], chars[at + 1] = chars[at + 1], chars[at]
        offsets.append(at)
    return "".join(chars), {"swapped_at": offsets}


def _paste(
    text: str, rng: np.random.Generator, rates: CorruptionRates, *, donors: Sequence[Snippet]
) -> tuple[str, dict[str, Any]]:
    lines = text.split("\n")
    n = len(lines)
    span = min(n, max(1, round(rates.paste_fraction * n)))
    start = int(rng.integers(0, n - span + 1))
    donor = donors[int(rng.integers(len(donors)))]
    donor_lines = donor.text.split("\n")
    k = min(span, len(donor_lines))
    at = int(rng.integers(0, len(donor_lines) - k + 1))
    lines[start : start + span] = donor_lines[at : at + k]
    detail = {"lines": [start, start + span], "donor": donor.doc_id, "donor_lines": [at, at + k]}
    return "\n".join(lines), detail


_TEXT_CORRUPTIONS: dict[str, Callable[..., tuple[str, dict[str, Any]]]] = {
    "shuffle_lines": _shuffle_lines,
    "typos": _typos,
    "paste": _paste,
}


def _random_tokens(
    ids: list[int], rng: np.random.Generator, rates: CorruptionRates, allowed: np.ndarray
) -> tuple[list[int], dict[str, Any]]:
    """Replace some ids after BOS by uniform draws from ``allowed`` (never the original)."""
    n = min(len(ids) - 1, max(1, round(rates.token_rate * (len(ids) - 1))))
    positions = np.sort(rng.choice(np.arange(1, len(ids)), size=n, replace=False))
    out = list(ids)
    for p in positions:
        new = int(allowed[rng.integers(len(allowed))])
        while new == ids[p]:
            new = int(allowed[rng.integers(len(allowed))])
        out[p] = new
    return out, {"positions": positions.tolist()}


def corrupt_corpus(
    snippets: Sequence[Snippet],
    tokenizer: Any,
    *,
    kinds: Sequence[CorruptionKind] = KINDS,
    rates: CorruptionRates | None = None,
    seed: int = 0,
    seq_len: int,
) -> Corpus:
    """Tokenize the snippets and give ``round(fraction · N)`` of them one corruption each.

    Which documents: the first of a seeded permutation; their kinds cycle through ``kinds`` in
    that order, so every kind gets about the same number. Each document's corruption is drawn
    from its own generator (seed, document index), so it does not depend on the others.

    Args:
        snippets: the documents.
        tokenizer: a Hugging Face tokenizer with a BOS token.
        kinds: corruption kinds to use (see :data:`KINDS`).
        rates: how many documents and how strongly (default :class:`CorruptionRates`).
        seed: the run's seed.
        seq_len: most tokens per document, BOS included (longer ones are cut).

    Raises:
        ConfigError: too few documents for the fraction and kinds, or a document that no draw
            changes (e.g. a ``typos`` document without a word of 3+ letters).
    """
    rates = rates or CorruptionRates()
    n = len(snippets)
    n_corrupt = round(rates.fraction * n)
    if not len(kinds) <= n_corrupt < n:
        raise ConfigError(
            f"corrupt_fraction={rates.fraction} of n_documents={n} corrupts {n_corrupt} "
            f"documents; it must be at least one per corruption kind ({len(kinds)}: "
            f"{list(kinds)}) and leave some clean: raise n_documents or change corrupt_fraction."
        )
    bos = tokenizer.bos_token_id
    if bos is None:
        raise ConfigError(
            f"tokenizer {type(tokenizer).__name__} has no BOS token; every document starts with "
            "one: set tokenizer.bos_token (e.g. '<|endoftext|>')."
        )
    special = set(tokenizer.all_special_ids)
    allowed = np.array([i for i in range(len(tokenizer)) if i not in special], dtype=np.int64)

    def encode(text: str) -> list[int]:
        return [bos, *_encode(tokenizer, text)][:seq_len]

    clean = [encode(s.text) for s in snippets]
    ids, texts = [list(row) for row in clean], [s.text for s in snippets]
    order = np.random.default_rng([seed, 0xC0]).permutation(n)[:n_corrupt]
    corruptions = []
    for j, index in enumerate(order.tolist()):
        kind = kinds[j % len(kinds)]
        snippet = snippets[index]
        rng = np.random.default_rng([seed, 0xD0C, index])
        donors = [s for s in snippets if s.source != snippet.source] or [
            s for s in snippets if s is not snippet
        ]
        for _ in range(_ATTEMPTS):
            if kind == "random_tokens":
                new_ids, detail = _random_tokens(clean[index], rng, rates, allowed)
                new_text = tokenizer.decode(new_ids[1:])
            else:
                new_text, detail = _TEXT_CORRUPTIONS[kind](snippet.text, rng, rates, donors=donors)
                new_ids = encode(new_text)
            if new_ids != clean[index]:
                break
        else:
            raise ConfigError(
                f"document {snippet.doc_id!r} was left unchanged by {_ATTEMPTS} draws of "
                f"{kind!r}; drop that kind from `corruptions` or use other documents."
            )
        ids[index], texts[index] = new_ids, new_text
        corruptions.append(Corruption(int(index), snippet.doc_id, kind, detail))
    corruptions.sort(key=lambda c: c.document)
    return Corpus(
        doc_ids=tuple(s.doc_id for s in snippets),
        clean_ids=tuple(tuple(row) for row in clean),
        ids=tuple(tuple(row) for row in ids),
        texts=tuple(texts),
        corruptions=tuple(corruptions),
        seq_len=seq_len,
    )


def load_sources(corpus: str) -> list[Any]:
    """The files of ``corpus`` as objects with ``doc_id`` and ``text``.

    Args:
        corpus: ``stdlib-heldout`` (the zoo corpus's held-out standard-library files) or a
            folder of .txt files.

    Raises:
        ConfigError: neither, or a folder without .txt files.
    """
    if corpus == "stdlib-heldout":
        from interplab.robustness.zoo.corpus import documents

        return list(documents("heldout"))
    folder = Path(corpus)
    if not folder.is_dir():
        raise ConfigError(
            f"corpus={corpus!r} is neither 'stdlib-heldout' nor a folder of .txt files; "
            "give one of those."
        )
    files = sorted(folder.glob("*.txt"))
    if not files:
        raise ConfigError(f"corpus folder {folder} holds no .txt files; add some.")
    return [SourceFile(p.stem, p.read_text(encoding="utf-8")) for p in files]

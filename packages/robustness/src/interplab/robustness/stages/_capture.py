"""Activations read by execution position, with our own PyTorch hooks.

TransformerLens hook names are bound to module identity, not to position (reference §10.3,
pitfall 1): after ``del model.blocks[1]`` the cache keys are ``blocks.0, blocks.2, …``, after a
swap they come out of order, and a block inserted twice overwrites its own entry. The stage
analyses therefore register plain torch hooks on each block and on its ``attn.hook_pattern`` /
``mlp.hook_post`` and number what they see in the order it
runs. Residuals are the input of the first block and the output of each block, taken by hooks
on the block modules themselves, so they include any change a block-level forward hook (an
ablation) makes, provided it was registered before ours (as inside ``intervene``). Entry ``i`` of
every list below is the ``i``-th block *executed*, so a model edited in place
by an intervention (deleted, swapped or repeated blocks; ``len(model.blocks) != cfg.n_layers``)
is read correctly. Hooks live only for one forward pass and are removed even on error.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from interplab.core.errors import ConfigError
from interplab.robustness.tokens import TokenBatch, TokenSet, check_fits

__all__ = [
    "Captured",
    "as_batches",
    "check_model",
    "n_executed",
    "prediction_positions",
    "run_captured",
]

Selection = bool | Collection[int]
"""Which execution positions to keep: all (True), none (False) or these indices."""


def check_model(model: Any) -> None:
    """Raise ConfigError unless ``model`` looks like a TransformerLens ``TransformerBridge``."""
    missing = [a for a in ("blocks", "cfg", "ln_final", "unembed") if not hasattr(model, a)]
    if missing:
        raise ConfigError(
            f"model of type {type(model).__name__} lacks {missing}: the stage analyses need a "
            "TransformerLens TransformerBridge; load one with interplab.robustness.models."
            "load_model(...) or TransformerBridge.boot_transformers(...)."
        )
    if len(model.blocks) == 0:
        raise ConfigError("model.blocks is empty: every block was deleted; restore at least one.")


def n_executed(model: Any) -> int:
    """Blocks one forward pass runs: ``len(model.blocks)`` (may differ from ``cfg.n_layers``)."""
    return len(model.blocks)


def as_batches(
    tokens: TokenSet | TokenBatch | Iterable[TokenBatch], model: Any
) -> list[TokenBatch]:
    """The batches of ``tokens``, checked against ``model``'s vocabulary and context length."""
    if isinstance(tokens, TokenBatch):
        batches = [tokens]
    elif isinstance(tokens, TokenSet):
        batches = list(tokens.batches)
    elif isinstance(tokens, Iterable) and not isinstance(tokens, str | torch.Tensor):
        batches = list(tokens)
    else:
        raise ConfigError(
            f"tokens of type {type(tokens).__name__} are not a TokenSet or TokenBatch; make them "
            "with interplab.robustness.tokens.load_tokens(documents, model, token_budget=...)."
        )
    if not batches or not all(isinstance(b, TokenBatch) for b in batches):
        raise ConfigError("tokens hold no TokenBatch; make them with load_tokens(...).")
    check_fits(batches, model)
    return batches


def prediction_positions(mask: torch.Tensor, *, include_bos: bool) -> torch.Tensor:
    """[batch, seq] bool: positions whose next token is real (BOS's position only if asked).

    The paper keeps positions 1..T−2 of each document (its entropy notebook): every prediction
    of a real next token except the one made at BOS.
    """
    keep = torch.zeros_like(mask)
    keep[:, :-1] = mask[:, 1:] & mask[:, :-1]
    if not include_bos:
        keep[:, 0] = False
    return keep


@dataclass
class Captured:
    """What one forward pass produced, by execution position (see the module docstring).

    Attributes:
        logits: [batch, seq, d_vocab] the model's output.
        resid: residual stream [batch, seq, d_model] by entry: entry 0 enters the first
            executed block (embeddings), entry ``i + 1`` leaves executed block ``i``
            (``n_executed + 1`` entries; unselected entries are None).
        patterns: [batch, head, query, key] attention pattern of each executed block.
        mlp_post: [batch, seq, d_mlp] MLP neuron activations (the input of ``W_out``).
    """

    logits: torch.Tensor
    resid: list[torch.Tensor | None] = field(default_factory=list)
    patterns: list[torch.Tensor | None] = field(default_factory=list)
    mlp_post: list[torch.Tensor | None] = field(default_factory=list)


def _wanted(selection: Selection, n: int) -> set[int]:
    if selection is True:
        return set(range(n))
    if selection is False:
        return set()
    chosen = {i + n if i < 0 else i for i in selection}  # type: ignore[union-attr]
    bad = sorted(i for i in chosen if not 0 <= i < n)
    if bad:
        raise ConfigError(f"execution positions {bad} are out of range 0..{n - 1}.")
    return chosen


@contextmanager
def _forward_hooks(
    pre: Sequence[tuple[torch.nn.Module, Any]],
    post: Sequence[tuple[torch.nn.Module, Any]],
    plain: Sequence[tuple[torch.nn.Module, Any]],
) -> Iterator[None]:
    """Forward pre-hooks and forward hooks (both with kwargs), plain forward hooks; all removed."""
    handles = []
    try:
        handles += [m.register_forward_pre_hook(fn, with_kwargs=True) for m, fn in pre]
        handles += [m.register_forward_hook(fn, with_kwargs=True) for m, fn in post]
        handles += [m.register_forward_hook(fn) for m, fn in plain]
        yield
    finally:
        for handle in handles:
            handle.remove()


def _hidden(value: Any) -> torch.Tensor:
    """The residual-stream tensor of a block's input or output (a tensor or a tuple's first)."""
    if isinstance(value, tuple | list) and value:
        value = value[0]
    if not isinstance(value, torch.Tensor):
        raise RuntimeError(
            f"a block passed {type(value).__name__} where the residual stream was expected; "
            "the stage analyses need blocks called as block(hidden_states, ...)."
        )
    return value.detach().float()


def _unique(modules: Iterable[torch.nn.Module]) -> list[torch.nn.Module]:
    return list({id(m): m for m in modules}.values())


def run_captured(
    model: Any,
    ids: torch.Tensor,
    *,
    resid: Selection = False,
    patterns: Selection = False,
    mlp_post: Selection = False,
) -> Captured:
    """Run ``model`` on ``ids`` once and keep the selected activations by execution position.

    Args:
        model: a TransformerBridge, possibly with blocks deleted, swapped or repeated in place.
        ids: [batch, seq] token ids on the model's device.
        resid: residual entries to keep, 0..n_executed (0 = embeddings); negative indices count
            from the end (-1 = the last block's output).
        patterns: executed blocks whose attention pattern to keep.
        mlp_post: executed blocks whose MLP activations to keep.

    Returns:
        a :class:`Captured` (tensors detached, float32). The pass runs in eval mode (no
        dropout) under ``torch.no_grad``; a model in training mode is put back afterwards.

    Raises:
        RuntimeError: if the blocks did not each run once in list order (a block list that
            the forward pass does not iterate, e.g. after replacing ``model.blocks`` itself).
    """
    n = n_executed(model)
    keep_resid, keep_pat, keep_post = (
        _wanted(resid, n + 1),
        _wanted(patterns, n),
        _wanted(mlp_post, n),
    )
    out = Captured(logits=torch.empty(0))
    out.resid = [None] * (n + 1)
    out.patterns, out.mlp_post = [None] * n, [None] * n
    ran: list[int] = []  # one entry per executed block, appended when it returns
    entered: list[bool] = []

    def on_in(_m: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if not entered:
            entered.append(True)
            if 0 in keep_resid:
                out.resid[0] = _hidden(args[0] if args else kwargs.get("hidden_states"))

    def on_out(_m: Any, _args: Any, _kwargs: Any, output: Any) -> None:
        ran.append(1)
        if len(ran) <= n and len(ran) in keep_resid:
            out.resid[len(ran)] = _hidden(output)

    def on_pattern(_m: Any, _args: Any, output: torch.Tensor) -> None:
        if len(ran) < n and len(ran) in keep_pat:
            out.patterns[len(ran)] = output.detach().float()

    def on_post(_m: Any, _args: Any, output: torch.Tensor) -> None:
        if len(ran) < n and len(ran) in keep_post:
            out.mlp_post[len(ran)] = output.detach().float()

    blocks = _unique(model.blocks)
    inner: list[tuple[torch.nn.Module, Any]] = []
    if keep_pat:
        inner += [(b.attn.hook_pattern, on_pattern) for b in blocks]
    if keep_post:
        inner += [(b.mlp.hook_post, on_post) for b in blocks]
    pre, post = [(b, on_in) for b in blocks], [(b, on_out) for b in blocks]
    was_training = bool(getattr(model, "training", False))
    try:
        model.eval()  # no dropout; restored below
        with torch.no_grad(), _forward_hooks(pre, post, inner):
            logits = model(ids, use_cache=False)
    finally:
        if was_training:
            model.train()
    if len(ran) != n:
        raise RuntimeError(
            f"{len(ran)} block outputs were seen in one forward pass but model.blocks holds {n}: "
            "the forward pass does not run model.blocks in order. Edit model.blocks in place "
            "(del / insert / item assignment), never replace the ModuleList."
        )
    missing = [i for i in keep_pat if out.patterns[i] is None]
    missing += [i for i in keep_post if out.mlp_post[i] is None]
    if missing:
        raise RuntimeError(
            f"executed blocks {sorted(set(missing))} produced no attention pattern or MLP "
            "activation: an intervention replaced a block's attention or MLP; run these "
            "analyses on the unmodified model or on whole-block interventions."
        )
    out.logits = logits.detach().float()
    return out

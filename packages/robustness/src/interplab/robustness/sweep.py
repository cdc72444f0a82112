"""``layer_sweep``: every single-layer intervention of some kinds, measured on one token set.

Batches are the outer loop, interventions the inner one. Each batch gets one clean forward pass
that caches the clean logits and the residual stream entering every block (by execution
position). With ``prefix_reuse=True`` an intervention whose execution first differs from an
already computed one at block call ``i`` runs only the calls from ``i`` on: the block list
temporarily holds just those blocks, and a forward pre-hook hands the first of them the cached
residual stream (the embedding still runs; it is cheap, and NeoX's rotary embeddings are
computed from positions at model level, so they are unaffected). The shared prefixes are found by
tracing each intervention on symbolic steps (:meth:`Intervention.trace`) and looking the longest
prefix up in a per-batch cache that holds the clean run's streams plus, for every intervention,
the stream after its first executed block. So "delete L" starts at the clean stream entering L,
and "swap L, L+1" starts after "delete L"'s first call (block L+1 on the clean stream entering
L), one block later still. ``prefix_reuse=False`` runs every intervened model from the start
(the reference numbers); both give identical numbers on CPU. Memory: per batch the cache holds
the n + 1 clean residual streams and one more per intervention, each [B, T, d_model].

Relative depth is ``first_layer / (n_layers - 1)``; a swap of ``(L, L+1)`` sits at ``L``, its
lower layer, as in the paper's plots.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import torch
from torch import nn

from interplab.core.analysis import Progress, no_progress
from interplab.core.errors import ConfigError
from interplab.robustness.interventions.blocks import (
    ExecutionRecorder,
    find_blocks,
    hidden_output,
    injected_input,
    set_blocks,
)
from interplab.robustness.interventions.context import intervene, logits, model_device
from interplab.robustness.interventions.ops import (
    Ablate,
    Delete,
    Intervention,
    Repeat,
    Step,
    Swap,
)
from interplab.robustness.metrics import Baseline, baseline, compare, token_frame
from interplab.robustness.tokens import TokenSet, check_fits

if TYPE_CHECKING:
    import pandas as pd

    from interplab.robustness.tokens import TokenBatch

__all__ = ["KINDS", "SUMMARY_METRICS", "SweepItem", "layer_sweep", "sweep_items"]

KINDS = ("delete", "swap", "repeat", "delete-attn", "delete-mlp")
"""``delete`` L; ``swap`` L↔L+1; ``repeat`` L twice; ``delete-attn``/``-mlp``: zero that write."""
SUMMARY_METRICS = (
    "kl",
    "top1_agreement",
    "acc_orig",
    "acc_int",
    "acc_retained",
    "loss_orig",
    "loss_int",
    "loss_delta",
    "entropy_orig",
    "entropy_int",
)
CI_METRICS = ("kl", "top1_agreement", "acc_int", "acc_retained", "loss_delta", "entropy_int")
"""Metrics that get a bootstrap 95% CI over documents (``<metric>_ci_low``/``_ci_high``)."""
_SUMS = (
    "kl",
    "agree",
    "correct_orig",
    "correct_int",
    "loss_orig",
    "loss_int",
    "loss_delta",
    "entropy_orig",
    "entropy_int",
)
_MEAN_OF = {
    "kl": "kl",
    "top1_agreement": "agree",
    "acc_orig": "correct_orig",
    "acc_int": "correct_int",
    "loss_orig": "loss_orig",
    "loss_int": "loss_int",
    "loss_delta": "loss_delta",
    "entropy_orig": "entropy_orig",
    "entropy_int": "entropy_int",
}


@dataclass(frozen=True)
class SweepItem:
    """One intervention of a sweep."""

    kind: str
    layers: tuple[int, ...]
    ops: tuple[Intervention, ...]

    @property
    def label(self) -> str:
        """``delete-L3``, ``swap-L3-L4``, ..."""
        return f"{self.kind}-" + "-".join(f"L{i}" for i in self.layers)

    @property
    def layers_text(self) -> str:
        """``"3"`` or ``"3-4"``."""
        return "-".join(str(i) for i in self.layers)


def sweep_items(
    n_layers: int,
    kinds: Sequence[str] = ("delete", "swap"),
    *,
    swap_mode: Literal["module", "weights"] = "module",
    layers: Sequence[int] | None = None,
) -> list[SweepItem]:
    """Every single-layer intervention of ``kinds`` on an ``n_layers`` model, in kinds order.

    Args:
        n_layers: blocks in the model.
        kinds: any of :data:`KINDS`.
        swap_mode: ``Swap`` mode of the swaps.
        layers: only items whose first layer is in ``layers`` (all if None).
    """
    if isinstance(kinds, str):
        raise ConfigError(f"kinds={kinds!r} is one string; pass a tuple, e.g. ({kinds!r},).")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ConfigError(f"kinds={list(kinds)!r}: choose one or more of {list(KINDS)}.")
    wanted = set(range(n_layers)) if layers is None else set(layers)
    bad = sorted(i for i in wanted if not 0 <= i < n_layers)
    if bad:
        raise ConfigError(
            f"layers={sorted(wanted)} includes {bad}, out of range for a model with {n_layers} "
            f"blocks; use 0..{n_layers - 1}."
        )
    items = []
    for kind in dict.fromkeys(kinds):
        for i in sorted(wanted):
            if kind == "delete":
                items.append(SweepItem(kind, (i,), (Delete(i),)))
            elif kind == "swap" and i + 1 < n_layers:
                items.append(SweepItem(kind, (i, i + 1), (Swap(i, i + 1, mode=swap_mode),)))
            elif kind == "repeat":
                items.append(SweepItem(kind, (i,), (Repeat(i, 2),)))
            elif kind in ("delete-attn", "delete-mlp"):
                part = kind.split("-")[1]
                items.append(SweepItem(kind, (i,), (Ablate(i, "zero", part=part),)))
    return items


def _trace(ops: Sequence[Intervention], n_layers: int) -> tuple[Step, ...]:
    steps: list[Step] = [(i, ()) for i in range(n_layers)]
    for op in ops:
        steps = op.trace(steps)
    return tuple(steps)


@contextmanager
def _only(blocks: nn.ModuleList, modules: list[nn.Module]) -> Iterator[None]:
    """``blocks`` holds only ``modules`` (in place) for the ``with`` block.

    Used inside ``intervene`` only: its forward guard reads the list at each forward, so
    per-layer config lists (``config.layer_types``) are set for exactly these blocks, each with
    its own type, not the types of the first slots.
    """
    before = list(blocks)
    set_blocks(blocks, modules)
    try:
        yield
    finally:
        set_blocks(blocks, before)


class _PrefixCache:
    """Residual streams of one batch, keyed by the symbolic steps executed before them."""

    def __init__(self) -> None:
        self.states: dict[tuple[Step, ...], torch.Tensor] = {}

    def longest(self, steps: tuple[Step, ...]) -> int:
        """Length of the longest cached prefix of ``steps`` (at most ``len(steps) - 1``)."""
        for start in range(len(steps) - 1, -1, -1):
            if steps[:start] in self.states:
                return start
        return -1


def _run_clean(
    model: nn.Module, blocks: nn.ModuleList, ids: torch.Tensor, cache: _PrefixCache | None
) -> torch.Tensor:
    with ExecutionRecorder(blocks) as recorder:
        out = logits(model, ids)
    if cache is not None:
        steps = _trace((), len(blocks))
        for k, state in enumerate(recorder.residuals):
            cache.states[steps[:k]] = state
    return out


def _run_item(
    model: nn.Module,
    blocks: nn.ModuleList,
    item: SweepItem,
    ids: torch.Tensor,
    cache: _PrefixCache | None,
    n_layers: int,
) -> torch.Tensor:
    """[B, T, V] logits of ``ids`` under ``item``, from a cached prefix if ``cache`` is given."""
    with intervene(model, *item.ops, blocks=blocks):
        steps = _trace(item.ops, n_layers)
        start = cache.longest(steps) if cache is not None else -1
        if cache is None or start < 0:
            return logits(model, ids)
        tail = list(blocks)[start:]
        first: list[torch.Tensor] = []
        with (
            _only(blocks, tail),
            injected_input(tail[0], cache.states[steps[:start]]),
            _first_output(tail[0], first),
        ):
            out = logits(model, ids)
        # keep the state after the first executed block: a later item may start from it
        cache.states.setdefault(steps[: start + 1], first[0])
        return out


@contextmanager
def _first_output(module: nn.Module, into: list[torch.Tensor]) -> Iterator[None]:
    """Append the residual stream ``module`` returns on its first call to ``into``."""

    def keep(mod: nn.Module, args: Any, output: Any) -> None:
        if not into:
            into.append(hidden_output(output).detach())

    handle = module.register_forward_hook(keep)
    try:
        yield
    finally:
        handle.remove()


def _row_sums(base: Baseline, flat: dict[str, torch.Tensor], n_rows: int) -> np.ndarray:
    values = torch.stack([flat[k].double() for k in _SUMS], dim=1)  # [N, M]
    sums = torch.zeros(n_rows, len(_SUMS), dtype=torch.float64, device=values.device)
    sums.index_add_(0, base.rows, values)
    return sums.cpu().numpy()


def _summaries(total: np.ndarray, n: np.ndarray | float) -> dict[str, np.ndarray]:
    """Metric values from metric sums ``total`` [..., M] over ``n`` [...] positions."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {key: total[..., _SUMS.index(src)] / n for key, src in _MEAN_OF.items()}
        correct_orig = total[..., _SUMS.index("correct_orig")]
        out["acc_retained"] = np.where(
            correct_orig > 0, total[..., _SUMS.index("correct_int")] / correct_orig, np.nan
        )
    return out


def _model_name(model: nn.Module) -> str:
    name = getattr(getattr(model, "cfg", None), "model_name", None)
    return str(name) if name else type(model).__name__


@overload
def layer_sweep(
    model: nn.Module,
    tokens: TokenSet,
    kinds: Sequence[str] = ...,
    *,
    prefix_reuse: bool = ...,
    swap_mode: Literal["module", "weights"] = ...,
    layers: Sequence[int] | None = ...,
    blocks: nn.ModuleList | str | None = ...,
    model_name: str | None = ...,
    n_bootstrap: int = ...,
    seed: int = ...,
    progress: Progress | None = ...,
    per_token: Literal[False] = ...,
) -> pd.DataFrame: ...


@overload
def layer_sweep(
    model: nn.Module,
    tokens: TokenSet,
    kinds: Sequence[str] = ...,
    *,
    prefix_reuse: bool = ...,
    swap_mode: Literal["module", "weights"] = ...,
    layers: Sequence[int] | None = ...,
    blocks: nn.ModuleList | str | None = ...,
    model_name: str | None = ...,
    n_bootstrap: int = ...,
    seed: int = ...,
    progress: Progress | None = ...,
    per_token: Literal[True],
) -> tuple[pd.DataFrame, pd.DataFrame]: ...


def layer_sweep(
    model: nn.Module,
    tokens: TokenSet,
    kinds: Sequence[str] = ("delete", "swap"),
    *,
    prefix_reuse: bool = True,
    swap_mode: Literal["module", "weights"] = "module",
    layers: Sequence[int] | None = None,
    blocks: nn.ModuleList | str | None = None,
    model_name: str | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    progress: Progress | None = None,
    per_token: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Every single-layer deletion / adjacent swap / ... of ``model``, measured on ``tokens``.

    Args:
        model: a ``TransformerBridge`` (or any model with a block list).
        tokens: from :func:`~interplab.robustness.tokens.load_tokens`.
        kinds: any of :data:`KINDS`; each kind sweeps every layer (swaps: L↔L+1).
        prefix_reuse: start each intervention from the cached residual stream where it first
            differs (see the module docstring); False recomputes every intervened model fully.
        swap_mode: ``"module"`` (default) or ``"weights"`` (see :class:`Swap`).
        layers: only interventions whose first layer is in ``layers``.
        blocks: the block list or its attribute path (found automatically if None).
        model_name: the ``model`` column (``model.cfg.model_name`` if None).
        n_bootstrap: bootstrap resamples of documents for the 95% CIs.
        seed: seed of the bootstrap.
        progress: ``progress(iterable, total=, description=)`` over batches.
        per_token: also return the tidy per-token frame (see :func:`metrics.token_frame`).

    Returns:
        One row per intervention: ``model, kind, intervention, layers, first_layer,
        relative_depth, swap_mode, n_tokens`` and the means of :data:`SUMMARY_METRICS` over the
        real prediction positions (KL and losses in nats, entropies in bits, ``loss_delta`` =
        loss_int − loss_orig, positive = hurts; ``acc_retained`` = acc_int / acc_orig), plus
        ``<metric>_ci_low/_ci_high`` for :data:`CI_METRICS`. With ``per_token=True``, a pair
        (that frame, the per-token frame).
    """
    import pandas as pd

    if not isinstance(tokens, TokenSet):
        raise ConfigError(
            f"tokens is a {type(tokens).__name__}; pass the TokenSet that "
            "load_tokens(documents, model, token_budget=...) returns."
        )
    if len(tokens) == 0 or tokens.n_predictions == 0:
        raise ConfigError("the token set holds no prediction positions; raise token_budget.")
    if n_bootstrap < 1:
        raise ConfigError(f"n_bootstrap={n_bootstrap} must be at least 1.")
    check_fits(tokens.batches, model)
    block_list = blocks if isinstance(blocks, nn.ModuleList) else find_blocks(model, blocks)
    n_layers = len(block_list)
    items = sweep_items(n_layers, kinds, swap_mode=swap_mode, layers=layers)
    if not items:
        raise ConfigError(
            f"kinds={tuple(kinds)} with layers={None if layers is None else list(layers)} select "
            f"no intervention on {n_layers} layers (a swap needs a layer L < {n_layers - 1}); "
            "pass other layers or kinds."
        )
    # deletions first: a swap (L, L+1) starts from the state "delete L" computes first
    order = sorted(range(len(items)), key=lambda k: items[k].kind != "delete")
    name = model_name or _model_name(model)
    device = model_device(model)
    run = progress or no_progress
    sums: list[list[np.ndarray]] = [[] for _ in items]
    counts: list[np.ndarray] = []
    doc_ids: list[str] = []
    frames: list[pd.DataFrame] = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in run(tokens, total=len(tokens), description=f"layer sweep {name}"):
                gpu_batch = batch.to(device)
                cache = _PrefixCache() if prefix_reuse else None
                clean = _run_clean(model, block_list, gpu_batch.ids, cache)
                base = baseline(clean, gpu_batch.targets, gpu_batch.target_mask)
                counts.append(np.bincount(base.rows.cpu().numpy(), minlength=len(batch)))
                doc_ids.extend(batch.doc_ids)
                for k in order:
                    out = _run_item(model, block_list, items[k], gpu_batch.ids, cache, n_layers)
                    flat = compare(base, out)
                    sums[k].append(_row_sums(base, flat, len(batch)))
                    if per_token:
                        frames.append(_tokens_of(base, flat, batch, name, items[k]))
    finally:
        model.train(was_training)
    frame = _frame(items, sums, counts, doc_ids, name, n_layers, swap_mode, n_bootstrap, seed)
    if not per_token:
        return frame
    per_token_frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return frame, per_token_frame


def _tokens_of(
    base: Baseline, flat: dict[str, torch.Tensor], batch: TokenBatch, name: str, item: SweepItem
) -> pd.DataFrame:
    frame = token_frame(
        base, flat, batch, model=name, intervention=item.label, layers=item.layers_text
    )
    frame.insert(1, "kind", item.kind)
    return frame


def _frame(
    items: list[SweepItem],
    sums: list[list[np.ndarray]],
    counts: list[np.ndarray],
    doc_ids: list[str],
    name: str,
    n_layers: int,
    swap_mode: str,
    n_bootstrap: int,
    seed: int,
) -> pd.DataFrame:
    """One row per item; the bootstrap resamples documents (a document's windows together)."""
    import pandas as pd

    first_seen = {doc: k for k, doc in enumerate(dict.fromkeys(doc_ids))}
    doc_of_row = np.array([first_seen[doc] for doc in doc_ids])  # [rows] document index
    n_docs = len(first_seen)
    doc_counts = np.bincount(doc_of_row, weights=np.concatenate(counts), minlength=n_docs)  # [D]
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n_docs, np.full(n_docs, 1.0 / n_docs), size=n_bootstrap).astype(
        np.float64
    )  # [R, D]
    rows = []
    for item, parts in zip(items, sums, strict=True):
        row_sums = np.concatenate(parts)  # [rows, M]
        doc_sums = np.zeros((n_docs, row_sums.shape[1]))  # [D, M]
        np.add.at(doc_sums, doc_of_row, row_sums)
        point = _summaries(doc_sums.sum(axis=0), doc_counts.sum())
        draws = _summaries(weights @ doc_sums, weights @ doc_counts)  # [R] each
        row: dict[str, Any] = {
            "model": name,
            "kind": item.kind,
            "intervention": item.label,
            "layers": item.layers_text,
            "first_layer": item.layers[0],
            "relative_depth": item.layers[0] / (n_layers - 1) if n_layers > 1 else 0.0,
            "swap_mode": swap_mode if item.kind == "swap" else "",
            "n_tokens": int(doc_counts.sum()),
        }
        row.update({key: float(point[key]) for key in SUMMARY_METRICS})
        for key in CI_METRICS:
            values = draws[key][np.isfinite(draws[key])]
            low, high = np.percentile(values, [2.5, 97.5]) if values.size else (np.nan, np.nan)
            row[f"{key}_ci_low"], row[f"{key}_ci_high"] = float(low), float(high)
        rows.append(row)
    return pd.DataFrame(rows)

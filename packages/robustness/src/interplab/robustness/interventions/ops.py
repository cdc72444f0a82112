"""Layer interventions as small frozen values that edit a block list in place and undo the edit.

Notation (reference §5): the residual stream ``x_l`` enters block ``l``; block ``l`` writes
``f_l(x_l)``, so ``x_{l+1} = x_l + f_l(x_l)``.

| op | effect on the list / the forward |
|---|---|
| ``Delete(3)``, ``Delete((3, 5))`` | the blocks are removed: ``x_{l+1} := x_l`` (compute skipped) |
| ``Swap(3, 4)`` | positions 3 and 4 exchange modules (any pair, not only adjacent) |
| ``Swap(3, 4, mode="weights")`` | the two blocks exchange parameter tensors; each slot keeps its
  module, so slot-typed behaviour (sliding-window vs global attention of ``config.layer_types``,
  ``layer_idx`` scaling) stays with the slot. A Hugging Face state-dict rename does the same. |
| ``Permute([1, 0, 2, 3])`` | new order of all blocks |
| ``Repeat(2, times=3)`` | block 2 runs 3 times in a row (the same module object) |
| ``Ablate(2, "zero"/"mean"/"resample", part="block"/"attn"/"mlp")`` | the part's write to the
  residual stream is replaced: zero; its mean over the real token positions of a reference
  batch; or the write of another sequence of the same batch (seeded derangement) |

Indices refer to the list as left by the previous op (ops compose in order). Every op checks its
indices against that list and raises :class:`~interplab.core.errors.ConfigError` naming the bad
index and the valid range. :meth:`Intervention.trace` applies the same edit to a list of symbolic
steps, so the sweep knows which residual streams two interventions share without running them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
import torch
from torch import nn

from interplab.core.errors import ConfigError
from interplab.robustness.interventions.blocks import (
    changes_shape,
    hidden_input,
    hidden_output,
    replace_hidden_output,
    set_blocks,
)
from interplab.robustness.tokens import TokenBatch, check_fits

if TYPE_CHECKING:
    from interplab.robustness.interventions.context import Session

__all__ = ["Ablate", "Delete", "Intervention", "Permute", "Repeat", "Step", "Swap"]

T = TypeVar("T")
Step = tuple[int, tuple[Any, ...]]
"""A symbolic block call: (index in the original list, tags of what was changed in it)."""
Undo = Callable[[], None]

PART_NAMES = {
    "attn": ("attn", "attention", "self_attn", "self_attention"),
    "mlp": ("mlp", "feed_forward", "ffn"),
}
"""Submodule names tried for ``part="attn"`` / ``"mlp"`` (bridge, GPT-2, NeoX, Llama)."""


def _check_layer(layer: object, what: str) -> int:
    """``layer`` as a Python int (numpy integers from argsort & co. are accepted)."""
    if isinstance(layer, bool | np.bool_) or not isinstance(layer, int | np.integer):
        raise ConfigError(f"{what}={layer!r} must be an int block index.")
    layer = int(layer)
    if layer < 0:
        raise ConfigError(
            f"{what}={layer} is negative; negative indices are not accepted, count from 0."
        )
    return layer


def _check_in_range(layer: int, n_blocks: int, what: str) -> None:
    if layer >= n_blocks:
        valid = f"use 0..{n_blocks - 1}" if n_blocks else "there is no block left to edit"
        raise ConfigError(
            f"{what}={layer} is out of range: the block list holds {n_blocks} blocks here "
            f"(after the ops before this one); {valid}."
        )


class Intervention(ABC):
    """An in-place, undoable edit of a block list (see the module docstring for the kinds)."""

    @abstractmethod
    def apply(self, session: Session) -> Undo:
        """Edit ``session.blocks`` (and maybe hooks or parameters); return the undo."""

    @abstractmethod
    def trace(self, steps: list[Step]) -> list[Step]:
        """The same edit applied to symbolic steps (one per block call)."""

    @property
    @abstractmethod
    def label(self) -> str:
        """Short stable name, e.g. ``delete-L3``."""


class _Reorder(Intervention):
    """An intervention that only reorders, drops or repeats list entries."""

    @abstractmethod
    def reorder(self, items: list[T]) -> list[T]:
        """The list after the edit (checks indices against ``len(items)``)."""

    def apply(self, session: Session) -> Undo:
        before = list(session.blocks)
        set_blocks(session.blocks, self.reorder(before))
        return lambda: set_blocks(session.blocks, before)

    def trace(self, steps: list[Step]) -> list[Step]:
        return self.reorder(list(steps))


@dataclass(frozen=True)
class Delete(_Reorder):
    """Remove block(s) ``layers``: the residual stream passes through unchanged (x_{l+1} = x_l).

    Args:
        layers: one index or several (distinct), into the current list.
    """

    layers: int | tuple[int, ...]

    def __post_init__(self) -> None:
        raw = self.layers if isinstance(self.layers, tuple | list) else (self.layers,)
        layers = tuple(_check_layer(layer, "Delete layer") for layer in raw)
        if not layers:
            raise ConfigError("Delete(()) deletes nothing; name at least one layer.")
        if len(set(layers)) != len(layers):
            raise ConfigError(f"Delete{layers} names a layer twice; name each layer once.")
        object.__setattr__(self, "layers", layers if len(layers) > 1 else layers[0])

    @property
    def indices(self) -> tuple[int, ...]:
        """The deleted indices as a tuple."""
        return self.layers if isinstance(self.layers, tuple) else (self.layers,)

    def reorder(self, items: list[T]) -> list[T]:
        """``items`` without the deleted entries."""
        for layer in self.indices:
            _check_in_range(layer, len(items), "Delete layer")
        dropped = set(self.indices)
        return [item for i, item in enumerate(items) if i not in dropped]

    @property
    def label(self) -> str:
        """``delete-L3`` or ``delete-L3-L5``."""
        return "delete-" + "-".join(f"L{i}" for i in self.indices)


@dataclass(frozen=True)
class Swap(Intervention):
    """Exchange blocks ``a`` and ``b`` (adjacent or not).

    Args:
        a: one position.
        b: the other position (``b != a``).
        mode: ``"module"`` exchanges the module objects in the list (the default; what
            TransformerLens users do); ``"weights"`` exchanges their parameter and buffer tensors
            in place, leaving each module in its slot (what the reference's state-dict rename
            does). They differ for slot-typed layers (reference §5): with weights, each slot
            keeps its attention type from ``config.layer_types`` (sliding-window or full) and
            its ``layer_idx``, so a block's weights run with the other slot's type; module mode
            (like Delete, Permute, Repeat) lets every block keep its own type and index.
    """

    a: int
    b: int
    mode: Literal["module", "weights"] = "module"

    def __post_init__(self) -> None:
        object.__setattr__(self, "a", _check_layer(self.a, "Swap a"))
        object.__setattr__(self, "b", _check_layer(self.b, "Swap b"))
        if self.a == self.b:
            raise ConfigError(
                f"Swap({self.a}, {self.b}) swaps layer {self.a} with itself, which changes "
                f"nothing; name two different layers, e.g. Swap({self.a}, {self.a + 1})."
            )
        if self.mode not in ("module", "weights"):
            raise ConfigError(f"Swap mode={self.mode!r} must be 'module' or 'weights'.")

    def _check(self, n_blocks: int) -> None:
        _check_in_range(self.a, n_blocks, "Swap a")
        _check_in_range(self.b, n_blocks, "Swap b")

    def apply(self, session: Session) -> Undo:
        """Exchange the modules (or their tensors) at ``a`` and ``b``."""
        blocks = session.blocks
        self._check(len(blocks))
        if self.mode == "module":
            before = list(blocks)
            after = list(before)
            after[self.a], after[self.b] = before[self.b], before[self.a]
            set_blocks(blocks, after)
            return lambda: set_blocks(blocks, before)
        pairs = _tensor_pairs(blocks[self.a], blocks[self.b], self)
        _exchange(pairs)
        return lambda: _exchange(pairs)

    def trace(self, steps: list[Step]) -> list[Step]:
        """Module mode exchanges the steps; weight mode tags each with the other's weights."""
        self._check(len(steps))
        out = list(steps)
        sa, sb = steps[self.a], steps[self.b]
        if self.mode == "module":
            out[self.a], out[self.b] = sb, sa
        else:
            out[self.a] = (sa[0], (*sa[1], ("weights", sb)))
            out[self.b] = (sb[0], (*sb[1], ("weights", sa)))
        return out

    @property
    def label(self) -> str:
        """``swap-L3-L4`` (``-weights`` appended in weight mode)."""
        suffix = "" if self.mode == "module" else "-weights"
        return f"swap-L{self.a}-L{self.b}{suffix}"


def _tensor_pairs(
    first: nn.Module, second: nn.Module, op: Swap
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    if first is second:
        raise ConfigError(
            f"{op} with mode='weights': positions {op.a} and {op.b} hold the same module "
            "object (after a Repeat), so there is nothing to exchange; use mode='module'."
        )
    one = dict(first.named_parameters()) | dict(first.named_buffers())
    two = dict(second.named_parameters()) | dict(second.named_buffers())
    if one.keys() != two.keys() or any(one[k].shape != two[k].shape for k in one):
        raise ConfigError(
            f"{op} with mode='weights': blocks {op.a} and {op.b} have different parameter names "
            "or shapes, so their weights cannot be exchanged; use mode='module'."
        )
    return [(one[k], two[k]) for k in one if one[k] is not two[k]]


def _exchange(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    with torch.no_grad():
        for x, y in pairs:
            x.data, y.data = y.data, x.data


@dataclass(frozen=True)
class Permute(_Reorder):
    """Run all blocks in a new order: position ``k`` runs the block now at ``order[k]``.

    Args:
        order: a permutation of ``0..n-1`` (use :class:`Delete` / :class:`Repeat` to drop or
            repeat blocks).
    """

    order: tuple[int, ...]

    def __post_init__(self) -> None:
        order = tuple(_check_layer(i, "Permute index") for i in self.order)
        object.__setattr__(self, "order", order)

    def reorder(self, items: list[T]) -> list[T]:
        """``items`` in the new order (all of them, each once)."""
        n = len(items)
        if sorted(self.order) != list(range(n)):
            missing = sorted(set(range(n)) - set(self.order))
            extra = sorted({i for i in self.order if self.order.count(i) > 1 or i >= n})
            raise ConfigError(
                f"Permute{self.order} is not a permutation of the {n} blocks 0..{n - 1} "
                f"(missing {missing}, repeated or out of range {extra}); list every block once."
            )
        return [items[i] for i in self.order]

    @property
    def label(self) -> str:
        """``permute-1-0-2-3``."""
        return "permute-" + "-".join(str(i) for i in self.order)


@dataclass(frozen=True)
class Repeat(_Reorder):
    """Run block ``layer`` ``times`` times in a row (the same module object; reference §5).

    Forward passes must use ``use_cache=False`` while a Repeat is active (reference §9 #9); the
    :func:`~interplab.robustness.interventions.intervene` guard refuses any other call.
    """

    layer: int
    times: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "layer", _check_layer(self.layer, "Repeat layer"))
        if isinstance(self.times, bool) or not isinstance(self.times, int) or self.times < 2:
            raise ConfigError(
                f"Repeat times={self.times!r} must be an int >= 2 (the total number of runs; "
                "times=1 leaves the model unchanged)."
            )

    def apply(self, session: Session) -> Undo:
        """Repeat the entry; refused for a block an earlier :class:`Ablate` hooked."""
        _check_in_range(self.layer, len(session.blocks), "Repeat layer")
        if any(block is session.blocks[self.layer] for block in session.ablated):
            raise ConfigError(
                f"{self.label}: block {self.layer} carries an Ablate from an earlier op, and its "
                "hook would ablate every copy the Repeat makes: ablating one copy of a repeated "
                "block is not supported; drop the Ablate or the Repeat."
            )
        return super().apply(session)

    def reorder(self, items: list[T]) -> list[T]:
        """``items`` with entry ``layer`` repeated ``times`` times in a row."""
        _check_in_range(self.layer, len(items), "Repeat layer")
        i = self.layer
        return [*items[:i], *[items[i]] * self.times, *items[i + 1 :]]

    @property
    def label(self) -> str:
        """``repeat-L2-x3``."""
        return f"repeat-L{self.layer}-x{self.times}"


@dataclass(frozen=True)
class Ablate(Intervention):
    """Replace what block ``layer`` (or its attention / MLP) writes to the residual stream.

    The write of ``part="block"`` is ``output - input``; of ``"attn"``/``"mlp"`` it is the
    submodule's output (what the block adds to the residual stream, in sequential and in
    parallel blocks alike).

    Args:
        layer: index into the current list.
        method: ``"zero"``: write := 0 (for ``part="block"`` this is :class:`Delete`, computed);
            ``"mean"``: the write's mean over the real token positions of ``reference``;
            ``"resample"``: each sequence gets the write of another sequence of the same batch
            at the same position (a derangement drawn with ``seed``; right-padded rows lend
            pad positions' writes beyond their length).
        part: ``"block"``, ``"attn"``, ``"mlp"``, or an attribute path of a submodule.
        reference: for ``"mean"``: a :class:`~interplab.robustness.tokens.TokenBatch` (its mask
            selects the real positions) or a [batch, seq] id tensor (all positions real). The
            mean is computed once, when the op is applied, on the model as left by the ops
            before it.
        seed: seed of the ``"resample"`` derangement.
    """

    layer: int
    method: Literal["zero", "mean", "resample"] = "zero"
    part: str = "block"
    reference: Any = field(default=None, compare=False, repr=False)
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "layer", _check_layer(self.layer, "Ablate layer"))
        if self.method not in ("zero", "mean", "resample"):
            raise ConfigError(
                f"Ablate method={self.method!r} must be 'zero', 'mean' or 'resample'."
            )
        if self.method == "mean" and self.reference is None:
            raise ConfigError(
                "Ablate(method='mean') needs reference=<TokenBatch or [batch, seq] ids> to take "
                "the mean write over."
            )

    def target(self, block: nn.Module) -> nn.Module:
        """The module whose write is replaced (the block or one of its submodules)."""
        if self.part == "block":
            return block
        for name in PART_NAMES.get(self.part, (self.part,)):
            found: Any = block
            for attr in name.split("."):
                found = getattr(found, attr, None)
            if isinstance(found, nn.Module):
                return found
        children = [name for name, _ in block.named_children()]
        raise ConfigError(
            f"Ablate part={self.part!r}: {type(block).__name__} has no submodule named "
            f"{list(PART_NAMES.get(self.part, (self.part,)))}; its children are {children}. "
            "Pass the attribute path of the part as `part`."
        )

    def _write(self, args: Any, kwargs: Any, output: Any) -> torch.Tensor:
        out = hidden_output(output)
        return out - hidden_input(args, kwargs) if self.part == "block" else out

    def _with_write(self, args: Any, kwargs: Any, output: Any, write: torch.Tensor) -> Any:
        new = hidden_input(args, kwargs) + write if self.part == "block" else write
        return replace_hidden_output(output, new)

    def apply(self, session: Session) -> Undo:
        """Register a forward hook on the part that replaces its write; undo removes it."""
        _check_in_range(self.layer, len(session.blocks), "Ablate layer")
        copies = sum(block is session.blocks[self.layer] for block in session.blocks)
        if copies > 1:
            raise ConfigError(
                f"{self.label}: block {self.layer} appears {copies} times in the edited list (a "
                "Repeat), and a hook on it would ablate every copy: ablating one copy of a "
                "repeated block is not supported; drop the Ablate or the Repeat."
            )
        if self.part == "block" and changes_shape(session.blocks[self.layer]):
            raise ConfigError(
                f"{self.label}: block {self.layer} changes the shape of the residual stream (a "
                "strided/projecting `downsample`), so its write output - input is not defined; "
                "ablate a block that keeps the shape, or a submodule with `part=`."
            )
        module = self.target(session.blocks[self.layer])
        mean = self._mean_write(session, module) if self.method == "mean" else None

        def hook(mod: nn.Module, args: Any, kwargs: Any, output: Any) -> Any:
            if self.method == "zero":
                if self.part == "block":
                    return replace_hidden_output(output, hidden_input(args, kwargs))
                return replace_hidden_output(output, torch.zeros_like(hidden_output(output)))
            write = self._write(args, kwargs, output)
            if self.method == "mean":
                assert mean is not None
                return self._with_write(args, kwargs, output, mean.to(write).expand_as(write))
            return self._with_write(args, kwargs, output, write[_derangement(len(write), self)])

        handle = module.register_forward_hook(hook, with_kwargs=True)
        block = session.blocks[self.layer]
        session.ablated.append(block)

        def undo() -> None:
            handle.remove()
            session.ablated.remove(block)

        return undo

    def _mean_write(self, session: Session, module: nn.Module) -> torch.Tensor:
        ids, mask = _ids_and_mask(self.reference)
        if not bool(mask.any()):
            raise ConfigError(
                f"{self.label}: the reference {tuple(ids.shape)} has no real token position to "
                "average the write over; pass a non-empty TokenBatch (e.g. from load_tokens)."
            )
        if session.model is not None:
            check_fits([TokenBatch(ids, mask, ())], session.model)
        writes: list[torch.Tensor] = []

        def grab(mod: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
            writes.append(self._write(args, kwargs, output).detach())

        handle = module.register_forward_hook(grab, with_kwargs=True)
        try:
            with torch.no_grad():
                session.forward(ids.to(session.device))
        finally:
            handle.remove()
        write = writes[0].double()  # [batch, seq, d_model]
        mask = mask.to(write.device)
        return write[mask].mean(dim=0)  # [d_model]

    def trace(self, steps: list[Step]) -> list[Step]:
        """The step at ``layer`` tagged with this ablation."""
        _check_in_range(self.layer, len(steps), "Ablate layer")
        out = list(steps)
        index, tags = steps[self.layer]
        out[self.layer] = (index, (*tags, ("ablate", self.part, self.method, self.seed)))
        return out

    @property
    def label(self) -> str:
        """``ablate-zero-L2`` or ``ablate-mean-L2-attn``."""
        part = "" if self.part == "block" else f"-{self.part}"
        return f"ablate-{self.method}-L{self.layer}{part}"


def _ids_and_mask(reference: Any) -> tuple[torch.Tensor, torch.Tensor]:
    ids = getattr(reference, "ids", reference)
    if not isinstance(ids, torch.Tensor) or ids.ndim != 2:
        raise ConfigError(
            f"Ablate reference must be a TokenBatch or a [batch, seq] id tensor, got "
            f"{type(reference).__name__}{tuple(getattr(ids, 'shape', ()))}."
        )
    mask = getattr(reference, "mask", None)
    if mask is None:
        mask = torch.ones_like(ids, dtype=torch.bool)
    return ids, mask.bool()


def _derangement(n: int, op: Ablate) -> torch.Tensor:
    """[n] source row of each row: a seeded single cycle, so no row keeps its own write."""
    if n < 2:
        raise ConfigError(
            f"{op.label}: resample ablation takes each sequence's write from another sequence "
            f"of the batch, but the batch holds {n}; use a batch of 2 or more."
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(op.seed))
    source = torch.empty(n, dtype=torch.long)
    source[order] = order.roll(-1)
    return source


def describe(ops: Sequence[Intervention]) -> str:
    """Labels of ``ops`` joined by ``+`` (``"none"`` for no op)."""
    return "+".join(op.label for op in ops) or "none"

"""``intervene(model, *ops)``: apply layer interventions for the length of a ``with`` block.

::

    with intervene(bridge, Delete(3)):
        out = logits(bridge, ids)            # [batch, seq, vocab], use_cache=False
    with intervene(bridge, Swap(3, 4), Repeat(0, times=2)):
        ...

The ops are applied in order, each to the list as left by the previous one. On exit (also on an
exception) every op is undone in reverse order and the block list is set back to the original
module objects, so the model is bit-identical to before: same modules in the same order, same
parameter tensors, no hooks left.

KV cache: a repeated block shares one ``layer_idx``, so Hugging Face's ``DynamicCache`` mixes the
keys of its two calls (wrong logits with SDPA, a shape error with eager attention; reference
§9 #9). While a block appears twice in the list, a guard on the module that owns the list refuses
any forward whose ``use_cache`` is not ``False``. :func:`logits` always passes
``use_cache=False``; use it (or ``model(ids, use_cache=False)``) under every intervention.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from interplab.core.errors import ConfigError
from interplab.robustness.interventions.blocks import (
    check_shapes,
    find_blocks,
    restore_blocks,
    snapshot_blocks,
)
from interplab.robustness.interventions.ops import Intervention, Undo, describe

__all__ = ["Session", "intervene", "logits", "model_device"]


def _accepts(module: nn.Module, name: str) -> bool:
    try:
        params = inspect.signature(module.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def logits(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """[batch, seq, vocab] logits of ``ids`` [batch, seq], with ``use_cache=False``.

    Works for a ``TransformerBridge`` (its forward passes ``use_cache`` to the HF model), a
    Hugging Face model (``.logits`` of its output), and any module returning a tensor (or a tuple
    starting with one). No attention mask is passed: rows are right-padded and the models are
    causal, so real positions never see a pad.
    """
    out = model(ids, use_cache=False) if _accepts(model, "use_cache") else model(ids)
    if isinstance(out, torch.Tensor):
        return out
    if getattr(out, "logits", None) is not None:
        return out.logits
    if isinstance(out, tuple | list) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise ConfigError(f"{type(model).__name__} returned {type(out).__name__}, not logits.")


def model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter (CPU for a model without parameters)."""
    param = next(iter(model.parameters()), None)
    return param.device if param is not None else torch.device("cpu")


@dataclass
class Session:
    """What an op sees while it is applied: the model, its block list, a forward pass."""

    model: nn.Module | None
    blocks: nn.ModuleList | nn.Sequential
    ablated: list[nn.Module] = field(default_factory=list)
    """Blocks that carry an :class:`Ablate` hook (once per active Ablate)."""

    @property
    def device(self) -> torch.device:
        """Where the model's parameters are."""
        return model_device(self.model if self.model is not None else self.blocks)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """[batch, seq, vocab] logits of the model in its current (edited) state."""
        if self.model is None:
            raise ConfigError(
                "this op runs the model (e.g. Ablate(method='mean')), but intervene() got only "
                "a block list; pass the model and `blocks=`."
            )
        return logits(self.model, ids)


def _owner(model: nn.Module, blocks: nn.ModuleList | nn.Sequential) -> nn.Module | None:
    """The module whose forward loops over ``blocks`` and may build a KV cache."""
    root = getattr(model, "original_model", model)
    if not isinstance(root, nn.Module):
        return None
    for module in root.modules():
        if any(child is blocks for child in module.children()) and _accepts(module, "use_cache"):
            return module
    return None


class _ForwardGuard:
    """Hooks on the module whose forward loops over the blocks (its "owner").

    While the edited list is longer than the model's configured depth, the owner's
    ``config.num_hidden_layers`` is raised to the list's length for the forward pass: Llama-,
    Phi- and Qwen-style forwards loop over ``layers[: config.num_hidden_layers]`` and would skip
    the last blocks. Every forward must call each block in the list once (else ConfigError); while
    a block is repeated, a forward pass must not build a KV cache.
    """

    def __init__(self, owner: nn.Module, blocks: nn.ModuleList | nn.Sequential, ops: str) -> None:
        self.owner, self.blocks, self.ops = owner, blocks, ops
        self.signature = inspect.signature(owner.forward)
        self.config = getattr(owner, "config", None)
        self.depth = getattr(self.config, "num_hidden_layers", None)
        self.calls = 0
        self.counters: list[Any] = []
        self.handles = [
            owner.register_forward_pre_hook(self._before, with_kwargs=True),
            owner.register_forward_hook(self._after, with_kwargs=True),
        ]

    def _count(self, module: nn.Module, args: Any) -> None:
        self.calls += 1

    def _before(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._release()  # left over if the previous forward raised
        if len(set(map(id, self.blocks))) < len(self.blocks):
            self._check_no_cache(args, kwargs)
        if isinstance(self.depth, int) and len(self.blocks) > self.depth:
            self.config.num_hidden_layers = len(self.blocks)  # type: ignore[union-attr]
        self.calls = 0
        self.counters = [
            block.register_forward_pre_hook(self._count)
            for block in {id(b): b for b in self.blocks}.values()
        ]

    def _after(self, module: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
        self._release()
        if self.calls != len(self.blocks):
            raise ConfigError(
                f"under `{self.ops}` the edited list holds {len(self.blocks)} blocks but the "
                f"forward of {type(self.owner).__name__} called {self.calls}: it does not loop "
                "over the whole block list, so these interventions cannot run on it."
            )

    def _release(self) -> None:
        for handle in self.counters:
            handle.remove()
        self.counters = []
        if self.config is not None and self.depth is not None:
            self.config.num_hidden_layers = self.depth

    def _check_no_cache(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            use_cache = self.signature.bind_partial(*args, **kwargs).arguments.get("use_cache")
        except TypeError:
            use_cache = kwargs.get("use_cache")
        if use_cache is None:
            use_cache = getattr(self.config, "use_cache", None)
        if use_cache is not False:
            raise ConfigError(
                f"a forward pass with use_cache={use_cache!r} under `{self.ops}`: a repeated "
                "block shares one layer_idx, so the KV cache gives wrong logits or a shape error. "
                "Call interplab.robustness.logits(model, ids) or model(ids, use_cache=False)."
            )

    def remove(self) -> None:
        """Remove every hook and put the configured depth back."""
        self._release()
        for handle in self.handles:
            handle.remove()


@contextmanager
def intervene(
    model: nn.Module,
    *ops: Intervention,
    blocks: nn.ModuleList | nn.Sequential | str | None = None,
) -> Iterator[nn.ModuleList | nn.Sequential]:
    """Apply ``ops`` in place for the ``with`` block; restore the model exactly on exit.

    Args:
        model: a ``TransformerBridge``, a Hugging Face model, any module with a block list, or
            the ``nn.ModuleList`` / ``nn.Sequential`` itself.
        *ops: :class:`~interplab.robustness.interventions.ops.Intervention` values, applied in
            order.
        blocks: the block list or its attribute path (found with ``find_blocks`` if None); an
            ``nn.Sequential`` of residual blocks (a CNN stage, ``"encoder.layer2"``) works too.

    Yields:
        The edited block list (the same object as the model's).

    Raises:
        ConfigError: an op's index is out of range for the list it is applied to; the edited
            list would run a shape-changing block (a ResNet ``downsample`` block) elsewhere than
            where it was, or not once (see
            :func:`~interplab.robustness.interventions.blocks.check_shapes`); a forward pass
            that does not call every block of the edited list once; or (while a block is
            repeated) a forward pass without ``use_cache=False``.
    """
    for op in ops:
        if not isinstance(op, Intervention):
            raise ConfigError(
                f"intervene() got {op!r}; pass Delete/Swap/Permute/Repeat/Ablate values."
            )
    if isinstance(blocks, nn.ModuleList | nn.Sequential):
        block_list = blocks
    else:
        block_list = find_blocks(model, blocks)
    is_list = isinstance(model, nn.ModuleList) or model is block_list
    session = Session(None if is_list else model, block_list)
    original = list(block_list)
    names = snapshot_blocks(block_list)
    undos: list[Undo] = []
    owner = _owner(model, block_list) if session.model is not None else None
    guard = _ForwardGuard(owner, block_list, describe(ops)) if owner is not None else None
    try:
        for op in ops:
            undos.append(op.apply(session))
        check_shapes(original, list(block_list), describe(ops))
        yield block_list
    finally:
        if guard is not None:
            guard.remove()
        for undo in reversed(undos):
            undo()
        restore_blocks(block_list, names)

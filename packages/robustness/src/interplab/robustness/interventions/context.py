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

Per-layer attention types: Hugging Face forwards of models with ``config.layer_types`` (Gemma2/3,
Qwen2/3 with sliding windows, Olmo3, Cohere2, gpt-oss, ...) choose each layer's attention mask
(sliding window or full) by the layer's *position* in the list, ``config.layer_types[i]``. A
moved block would get the type of its new slot, and a repeated one would index past the list's
end. So during each forward the same guard lists, for every block of the edited list, the type of
the original block that module is (the block keeps the type it was trained with), and puts the
config's own list back afterwards (see :data:`PER_LAYER_FIELDS`). Weight-mode ``Swap`` leaves
the modules in their slots, so the slots keep their types.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

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

__all__ = ["PER_LAYER_FIELDS", "Session", "intervene", "logits", "model_device"]

PER_LAYER_FIELDS = ("layer_types",)
"""Per-layer lists of a Hugging Face config that forwards index by list position
(``config.layer_types[i]`` picks layer ``i``'s attention mask). While an intervention is active
each forward sees them listed per executed block, from the block's original index; a field is
handled only where it is a plain list attribute holding one entry per block."""

_ORIGINAL_FIELDS: WeakKeyDictionary[nn.Module, dict[str, dict[int, Any]]] = WeakKeyDictionary()
"""Per block list under an ``intervene``: field -> {id(block module): its entry}, taken from the
unedited list by the outermost ``intervene`` (a nested one reuses it)."""


def _fields(config: Any) -> dict[str, Any]:
    """The config's instance attributes (a read-only property is not among them)."""
    return vars(config) if config is not None and hasattr(config, "__dict__") else {}


def _per_layer_entries(config: Any, blocks: list[nn.Module]) -> dict[str, dict[int, Any]]:
    """For each per-layer list of ``config`` with one entry per block: {id(module): entry}."""
    entries: dict[str, dict[int, Any]] = {}
    for name in PER_LAYER_FIELDS:
        value = _fields(config).get(name)
        if isinstance(value, list | tuple) and len(value) == len(blocks):
            entries[name] = {id(m): entry for m, entry in zip(blocks, value, strict=True)}
    return entries


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

    Per-layer config lists (:data:`PER_LAYER_FIELDS`, i.e. ``config.layer_types``) are set for the
    forward pass to one entry per block of the list *as it is then* (the sweep's shortened tail
    included), each block's own entry from its index in the unedited list; the config's own list
    object is put back after the pass (also when it raises) and when the guard is removed. A
    ``DynamicCache`` the forward would build from the config is built beforehand from the
    unedited config, since cache layers are indexed by each block's ``layer_idx``.
    """

    def __init__(
        self,
        owner: nn.Module,
        blocks: nn.ModuleList | nn.Sequential,
        ops: str,
        entries: dict[str, dict[int, Any]] | None = None,
    ) -> None:
        self.owner, self.blocks, self.ops = owner, blocks, ops
        self.signature = inspect.signature(owner.forward)
        self.config = getattr(owner, "config", None)
        self.depth = getattr(self.config, "num_hidden_layers", None)
        # per-layer config lists (layer_types): the config's own objects, put back after each
        # forward, and each block module's entry, from its index in the unedited list
        if entries is None:
            entries = _per_layer_entries(self.config, list(blocks))
        self.entries = entries
        self.saved = {name: _fields(self.config)[name] for name in entries}
        self.calls = 0
        self.counters: list[Any] = []
        self.handles = [
            owner.register_forward_pre_hook(self._before, with_kwargs=True),
            owner.register_forward_hook(self._after, with_kwargs=True, always_call=True),
        ]

    def _count(self, module: nn.Module, args: Any) -> None:
        self.calls += 1

    def _before(
        self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        self._release()  # left over if the previous forward raised
        if len(set(map(id, self.blocks))) < len(self.blocks):
            self._check_no_cache(args, kwargs)
        if isinstance(self.depth, int) and len(self.blocks) > self.depth:
            self.config.num_hidden_layers = len(self.blocks)  # type: ignore[union-attr]
        edited = self._per_layer_lists() if self.saved else {}
        if edited:
            # a KV cache the forward builds from the config must get the ORIGINAL types: its
            # layers are indexed by each block's layer_idx, not by its position
            kwargs = self._with_cache(args, kwargs)
            for name, value in edited.items():
                setattr(self.config, name, value)
        self.calls = 0
        self.counters = [
            block.register_forward_pre_hook(self._count)
            for block in {id(b): b for b in self.blocks}.values()
        ]
        return (args, kwargs) if edited else None

    def _per_layer_lists(self) -> dict[str, Any]:
        """Each per-layer field listed for the blocks of the (edited) list, where it changes."""
        edited: dict[str, Any] = {}
        for name, by_module in self.entries.items():
            try:
                listed = [by_module[id(block)] for block in self.blocks]
            except KeyError:
                raise ConfigError(
                    f"under `{self.ops}` the block list holds a module that was not in it when "
                    f"intervene() started, so its `config.{name}` entry is unknown; edit the list "
                    "only with interventions."
                ) from None
            saved = self.saved[name]
            if listed != list(saved):
                edited[name] = type(saved)(listed)
        return edited

    def _with_cache(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """``kwargs`` with a ``DynamicCache`` of the unedited config where the forward builds one.

        That is when ``use_cache`` is on and no ``past_key_values`` is given.
        """
        if "past_key_values" not in self.signature.parameters or not self._use_cache(args, kwargs):
            return kwargs
        try:
            given = self.signature.bind_partial(*args, **kwargs).arguments
        except TypeError:
            given = kwargs
        if given.get("past_key_values") is not None or "past_key_values" in given.keys() - kwargs:
            return kwargs
        from transformers import DynamicCache

        return {**kwargs, "past_key_values": DynamicCache(config=self.config)}

    def _after(self, module: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
        self._release()
        if output is None:  # the forward raised (an always_call hook): nothing to check
            return
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
        for name, value in self.saved.items():
            if _fields(self.config).get(name) is not value:
                setattr(self.config, name, value)

    def _use_cache(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The forward's ``use_cache`` argument, else the config's (None if neither says)."""
        try:
            use_cache = self.signature.bind_partial(*args, **kwargs).arguments.get("use_cache")
        except TypeError:
            use_cache = kwargs.get("use_cache")
        if use_cache is None:
            use_cache = getattr(self.config, "use_cache", None)
        return use_cache

    def _check_no_cache(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        use_cache = self._use_cache(args, kwargs)
        if use_cache is not False:
            raise ConfigError(
                f"a forward pass with use_cache={use_cache!r} under `{self.ops}`: a repeated "
                "block shares one layer_idx, so the KV cache gives wrong logits or a shape error. "
                "Call interplab.robustness.logits(model, ids) or model(ids, use_cache=False)."
            )

    def remove(self) -> None:
        """Remove every hook and put the configured depth and per-layer lists back."""
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
    outermost = block_list not in _ORIGINAL_FIELDS
    guard = None
    if owner is not None:
        guard = _ForwardGuard(
            owner, block_list, describe(ops), None if outermost else _ORIGINAL_FIELDS[block_list]
        )
        if outermost:
            _ORIGINAL_FIELDS[block_list] = guard.entries
    try:
        for op in ops:
            undos.append(op.apply(session))
        check_shapes(original, list(block_list), describe(ops))
        yield block_list
    finally:
        if guard is not None:
            guard.remove()
            if outermost:
                _ORIGINAL_FIELDS.pop(block_list, None)
        for undo in reversed(undos):
            undo()
        restore_blocks(block_list, names)

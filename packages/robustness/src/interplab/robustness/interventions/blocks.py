"""The ordered list of residual blocks of a model, and the residual stream by execution position.

Interventions edit one ``nn.ModuleList`` in place. For a TransformerLens ``TransformerBridge`` it
is ``bridge.blocks``, which *is* the Hugging Face layer list (``hf.transformer.h is
bridge.blocks``), so the HF forward sees every edit. Any other model names its list by attribute
path (``"transformer.h"``, ``"model.layers"``, a segmentation encoder's ``"layer3"``) or passes
the ``nn.ModuleList`` itself; nothing here depends on transformers.

After an edit, TransformerLens hook names stay bound to module identity, not position (a deleted
block's names vanish, a repeated block fires its hook twice). :class:`ExecutionRecorder` instead
records the tensors by **execution position**: entry ``k`` is the residual stream entering the
``k``-th block call of the forward pass, whatever module that was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from interplab.core.errors import ConfigError

__all__ = [
    "ExecutionRecorder",
    "find_blocks",
    "hidden_input",
    "hidden_output",
    "injected_input",
    "record_residuals",
    "replace_hidden_input",
    "replace_hidden_output",
    "set_blocks",
]

KNOWN_PATHS = (
    "blocks",  # TransformerBridge, HookedTransformer-like models
    "transformer.h",  # GPT-2, GPT-J, GPT-Neo
    "gpt_neox.layers",  # GPT-NeoX / Pythia
    "model.layers",  # Llama, Mistral, Qwen, Phi
    "model.decoder.layers",  # OPT
    "layers",  # a bare base model
    "h",  # a bare GPT-2 base model
)
"""Attribute paths tried, in order, when no path is given."""


def _get_path(model: nn.Module, path: str) -> Any:
    obj: Any = model
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def find_blocks(model: nn.Module, path: str | None = None) -> nn.ModuleList:
    """The ordered residual-block list of ``model`` (edited in place by interventions).

    Args:
        model: a ``TransformerBridge``, a Hugging Face model, any ``nn.Module`` with a block list,
            or the ``nn.ModuleList`` itself.
        path: attribute path of the list (``"transformer.h"``); by default ``blocks`` and the
            usual Hugging Face paths are tried.

    Raises:
        ConfigError: no ``nn.ModuleList`` at ``path`` or at any known path.
    """
    if isinstance(model, nn.ModuleList):
        return model
    paths = (path,) if path is not None else KNOWN_PATHS
    for candidate in paths:
        found = _get_path(model, candidate)
        if isinstance(found, nn.ModuleList):
            return found
    lists = [name for name, m in model.named_modules() if isinstance(m, nn.ModuleList)]
    tried = repr(path) if path is not None else f"any of {list(KNOWN_PATHS)}"
    raise ConfigError(
        f"{type(model).__name__} has no nn.ModuleList of blocks at {tried}; pass the attribute "
        f"path of its residual blocks as `blocks=` (ModuleLists in this model: {lists[:8]})."
    )


def set_blocks(blocks: nn.ModuleList, modules: list[nn.Module]) -> None:
    """Make ``blocks`` hold exactly ``modules`` (in place; the list object stays the same)."""
    del blocks[:]
    blocks.extend(modules)


def hidden_input(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """The residual stream a block was called with: ``args[0]`` or ``kwargs["hidden_states"]``."""
    if args and isinstance(args[0], torch.Tensor):
        return args[0]
    if isinstance(kwargs.get("hidden_states"), torch.Tensor):
        return kwargs["hidden_states"]
    raise ConfigError(
        "a block was called without a tensor as its first argument or `hidden_states=`; "
        "interventions need blocks called as block(hidden_states, ...)."
    )


def replace_hidden_input(
    args: tuple[Any, ...], kwargs: dict[str, Any], value: torch.Tensor
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``(args, kwargs)`` with the residual-stream input replaced by ``value``."""
    if args and isinstance(args[0], torch.Tensor):
        return (value, *args[1:]), kwargs
    return args, {**kwargs, "hidden_states": value}


def hidden_output(output: Any) -> torch.Tensor:
    """The residual stream a block returned: the output or its first element."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, tuple | list) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise ConfigError(
        f"a block returned {type(output).__name__}, not a tensor or a tuple starting with one."
    )


def replace_hidden_output(output: Any, value: torch.Tensor) -> Any:
    """``output`` with its residual-stream tensor replaced by ``value`` (same container)."""
    if isinstance(output, torch.Tensor):
        return value
    return type(output)((value, *output[1:]))


class ExecutionRecorder:
    """Records the residual stream entering every executed block, by execution position.

    Use as a context manager around one forward pass::

        with ExecutionRecorder(find_blocks(model)) as recorder:
            logits(model, ids)
        recorder.residuals  # [n_executed + 1] tensors [batch, seq, d_model]

    Entry ``k`` enters the ``k``-th block call; the last entry leaves the last one. A module that
    appears twice in the list is recorded twice. Hooks are torch forward (pre-)hooks on the
    modules in the list when the context is entered; they are removed on exit.

    Args:
        blocks: the block list.
        detach: store ``tensor.detach()`` (default) instead of the tensor itself.
    """

    def __init__(self, blocks: nn.ModuleList, *, detach: bool = True) -> None:
        self.blocks = blocks
        self.detach = detach
        self.inputs: list[torch.Tensor] = []
        self.outputs: list[torch.Tensor] = []
        self._handles: list[Any] = []

    def _keep(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.detach() if self.detach else tensor

    def __enter__(self) -> ExecutionRecorder:
        self.inputs, self.outputs = [], []

        def before(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            self.inputs.append(self._keep(hidden_input(args, kwargs)))

        def after(module: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
            self.outputs.append(self._keep(hidden_output(output)))

        for module in dict.fromkeys(self.blocks):  # each module once, in list order
            self._handles.append(module.register_forward_pre_hook(before, with_kwargs=True))
            self._handles.append(module.register_forward_hook(after, with_kwargs=True))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    @property
    def residuals(self) -> list[torch.Tensor]:
        """[n_executed + 1] residual streams [batch, seq, d_model]: entering each call, then out."""
        if not self.inputs:
            return []
        return [*self.inputs, self.outputs[-1]]


def record_residuals(
    model: nn.Module,
    ids: torch.Tensor,
    *,
    blocks: nn.ModuleList | str | None = None,
    forward: Callable[[nn.Module, torch.Tensor], Any] | None = None,
) -> list[torch.Tensor]:
    """The residual stream entering each executed block and leaving the last, by position.

    Args:
        model: the model (a bridge, an HF model, or any module with a block list).
        ids: [batch, seq] token ids (or whatever ``forward`` feeds the model).
        blocks: the block list or its attribute path; found with :func:`find_blocks` if None.
        forward: ``forward(model, ids)``; :func:`~interplab.robustness.interventions.logits`
            (``use_cache=False``) if None.

    Returns:
        [n_executed + 1] tensors [batch, seq, d_model].
    """
    from interplab.robustness.interventions.context import logits

    block_list = blocks if isinstance(blocks, nn.ModuleList) else find_blocks(model, blocks)
    run = forward or logits
    with torch.no_grad(), ExecutionRecorder(block_list) as recorder:
        run(model, ids)
    return recorder.residuals


@contextmanager
def injected_input(module: nn.Module, value: torch.Tensor) -> Iterator[None]:
    """While active, the first call of ``module`` gets ``value`` as its residual-stream input.

    Used to start a forward pass mid-model from a cached residual stream: the block list holds
    only the blocks from the cached position on, and the first one's input is replaced.
    """
    fired = False

    def swap_in(
        mod: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        nonlocal fired
        if fired:
            return None
        fired = True
        return replace_hidden_input(args, kwargs, value)

    handle = module.register_forward_pre_hook(swap_in, with_kwargs=True, prepend=True)
    try:
        yield
    finally:
        handle.remove()

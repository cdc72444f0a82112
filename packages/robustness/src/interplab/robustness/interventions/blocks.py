"""The ordered list of residual blocks of a model, and the residual stream by execution position.

Interventions edit one ``nn.ModuleList`` (or ``nn.Sequential``) in place. For a TransformerLens
``TransformerBridge`` it is ``bridge.blocks``, which *is* the Hugging Face layer list
(``hf.transformer.h is bridge.blocks``), so the HF forward sees every edit. Any other model names
its list by attribute path (``"transformer.h"``, ``"model.layers"``, a segmentation encoder's
``"encoder.layer3"``) or passes the list itself; nothing here depends on transformers.

A CNN stage is usually an ``nn.Sequential`` of residual blocks (torchvision / timm ResNets, so
also the segmentation-models-pytorch encoders): its forward runs its children in order, so
editing the children edits the forward. Such a list is accepted when named by ``path`` (or passed
itself); the default search over :data:`KNOWN_PATHS` still looks for ``nn.ModuleList`` only.
Its child names are renumbered ``"0".."n-1"`` while edited, and ``intervene`` puts the original
names back on exit.

Shapes. A block that changes the shape of the residual stream (a ResNet stage's first block,
whose skip path is a strided ``downsample`` projection) can run only where it ran before.
:func:`changes_shape` recognises such blocks by that convention (a ``downsample`` or
``shortcut`` submodule that is not ``nn.Identity``), and :func:`check_shapes` refuses an edited
list that moves, deletes or repeats one of them, or puts a block in a segment of another width
(``intervene`` calls it, so ``Delete`` of a downsampling block raises
:class:`~interplab.core.errors.ConfigError` before any forward). A shape-changing block that
follows neither convention is not detected: the forward then raises torch's own shape error.

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
    "changes_shape",
    "check_shapes",
    "find_blocks",
    "hidden_input",
    "hidden_output",
    "injected_input",
    "record_residuals",
    "replace_hidden_input",
    "replace_hidden_output",
    "restore_blocks",
    "set_blocks",
    "snapshot_blocks",
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


def find_blocks(model: nn.Module, path: str | None = None) -> nn.ModuleList | nn.Sequential:
    """The ordered residual-block list of ``model`` (edited in place by interventions).

    Args:
        model: a ``TransformerBridge``, a Hugging Face model, any ``nn.Module`` with a block list,
            or the ``nn.ModuleList`` / ``nn.Sequential`` itself.
        path: attribute path of the list (``"transformer.h"``, ``"encoder.layer2"``); by default
            ``blocks`` and the usual Hugging Face paths are tried. An ``nn.Sequential`` is
            accepted when named here (or passed as ``model``), an ``nn.ModuleList`` always.

    Raises:
        ConfigError: no ``nn.ModuleList`` (or, at an explicit ``path``, ``nn.Sequential``) at
            ``path`` or at any known path.
    """
    if isinstance(model, nn.ModuleList):
        return model
    if isinstance(model, nn.Sequential) and path is None:
        return model
    paths = (path,) if path is not None else KNOWN_PATHS
    for candidate in paths:
        found = _get_path(model, candidate)
        if isinstance(found, nn.ModuleList):
            return found
        if path is not None and isinstance(found, nn.Sequential):
            return found
    lists = [
        name
        for name, m in model.named_modules()
        if isinstance(m, nn.ModuleList | nn.Sequential) and name
    ]
    tried = repr(path) if path is not None else f"any of {list(KNOWN_PATHS)}"
    raise ConfigError(
        f"{type(model).__name__} has no nn.ModuleList of blocks at {tried}; pass the attribute "
        f"path of its residual blocks as `blocks=` (ModuleLists and Sequentials in this model: "
        f"{lists[:8]})."
    )


def set_blocks(blocks: nn.ModuleList | nn.Sequential, modules: list[nn.Module]) -> None:
    """Make ``blocks`` hold exactly ``modules`` (in place; the list object stays the same).

    An ``nn.Sequential``'s children are renamed ``"0".."n-1"`` (as ``del seq[i]`` does);
    :func:`restore_blocks` puts back the names of a :func:`snapshot_blocks`.
    """
    if isinstance(blocks, nn.Sequential):
        for name in list(blocks._modules):
            del blocks._modules[name]
        for i, module in enumerate(modules):
            blocks._modules[str(i)] = module
        return
    del blocks[:]
    blocks.extend(modules)


def snapshot_blocks(blocks: nn.ModuleList | nn.Sequential) -> list[tuple[str, nn.Module]]:
    """The list's children as ``(name, module)`` pairs, for :func:`restore_blocks`."""
    return list(blocks._modules.items())


def restore_blocks(
    blocks: nn.ModuleList | nn.Sequential, snapshot: list[tuple[str, nn.Module]]
) -> None:
    """Put back exactly the children (names, modules, order) of a :func:`snapshot_blocks`."""
    if list(blocks._modules.items()) == snapshot:
        return
    if isinstance(blocks, nn.ModuleList):
        set_blocks(blocks, [module for _, module in snapshot])
        return
    for name in list(blocks._modules):
        del blocks._modules[name]
    blocks._modules.update(snapshot)


SHORTCUT_NAMES = ("downsample", "shortcut")
"""Attribute names of a residual block's projection skip path (torchvision/timm, Hugging Face)."""


def changes_shape(block: nn.Module) -> bool:
    """Whether ``block`` maps the residual stream to another shape (by the ResNet convention).

    True when it has a ``downsample`` or ``shortcut`` submodule that is not ``nn.Identity``:
    the projection skip path of a ResNet stage's first block (stride and/or width change).
    Blocks that follow no such convention are assumed to keep the shape.
    """
    for name in SHORTCUT_NAMES:
        found = getattr(block, name, None)
        if isinstance(found, nn.Module) and not isinstance(found, nn.Identity):
            return True
    return False


def check_shapes(original: list[nn.Module], edited: list[nn.Module], what: str) -> None:
    """Refuse an edit that runs a block on a residual stream of a shape it was not built for.

    The shape-changing blocks (:func:`changes_shape`) of ``original`` split it into segments of
    one shape each. ``edited`` is valid when it holds those blocks once each, in their original
    order, and every other block sits in the segment it came from.

    Args:
        original: the list before the ops.
        edited: the list after them.
        what: the ops, for the message (e.g. ``"delete-L0"``).

    Raises:
        ConfigError: the edit deletes, repeats or reorders a shape-changing block, or moves a
            block across one.
    """
    changers = [m for m in original if changes_shape(m)]
    if not changers:
        return
    segment: dict[int, int] = {}
    seen = 0
    for module in original:
        if changes_shape(module):
            seen += 1
        segment.setdefault(id(module), seen)
    where = {id(m): i for i, m in enumerate(original)}
    edited_changers = [m for m in edited if changes_shape(m)]
    if [id(m) for m in edited_changers] != [id(m) for m in changers]:
        moved = sorted(where[id(m)] for m in changers if edited_changers.count(m) != 1)
        detail = (
            f"block(s) {moved} change the shape of the residual stream (a strided/projecting "
            "`downsample`) and would be deleted or repeated"
            if moved
            else "the shape-changing blocks would run in another order"
        )
        raise ConfigError(
            f"`{what}`: {detail}, so the blocks after them would get a tensor of the wrong "
            f"shape. Shape-changing blocks here: {[where[id(m)] for m in changers]}; edit only "
            "the others (e.g. a ResNet stage's blocks 1.., not its first block)."
        )
    seen = 0
    for position, module in enumerate(edited):
        if changes_shape(module):
            seen += 1
        elif id(module) in segment and segment[id(module)] != seen:
            raise ConfigError(
                f"`{what}`: block {where[id(module)]} would run at position {position}, on the "
                "other side of a shape-changing block (a strided/projecting `downsample`), where "
                "the residual stream has another shape; keep blocks between the same "
                f"shape-changing blocks (here {[where[id(m)] for m in changers]})."
            )


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

    def __init__(self, blocks: nn.ModuleList | nn.Sequential, *, detach: bool = True) -> None:
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
    blocks: nn.ModuleList | nn.Sequential | str | None = None,
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

    if isinstance(blocks, nn.ModuleList | nn.Sequential):
        block_list = blocks
    else:
        block_list = find_blocks(model, blocks)
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

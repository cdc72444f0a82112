"""Load a causal LM as a TransformerLens ``TransformerBridge``: zoo name, folder or hub id.

Three kinds of name, tried in this order:

- ``zoo:<name>`` (``zoo:gpt2-4l``): a zoo model, trained on first use and kept in the cache;
- an existing folder written by ``save_pretrained``;
- anything else is a Hugging Face hub id (``gpt2``, ``EleutherAI/pythia-410m-deduped``),
  fetched into the hub cache (or read from it when ``HF_HUB_OFFLINE=1``).

Weights are read from safetensors only (a pickle can run code); a folder or hub repository with
only ``pytorch_model.bin`` is refused with the conversion to do. Remote code runs only with
``trust_remote_code=True``. Every failure is a :class:`~interplab.core.errors.ConfigError` that
names the value and the fix.
"""

from __future__ import annotations

import difflib
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interplab.core.analysis import Progress, no_progress
from interplab.core.errors import ConfigError
from interplab.robustness._hf import hf_progress_bars_off

if TYPE_CHECKING:
    import torch
    from transformer_lens.model_bridge import TransformerBridge

    from interplab.core.cache import Cache

__all__ = ["ZOO_PREFIX", "load_model", "supported_architectures"]

ZOO_PREFIX = "zoo:"
_HUB_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken", "tokenizer*"]
"""What is fetched from the hub: configs, safetensors weights and tokenizer files, no pickles."""
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")
"""A folder holds a loadable tokenizer only if it has one of these (fast, sentencepiece, BPE)."""


def load_model(
    name_or_path: str | Path,
    *,
    device: str | torch.device = "auto",
    dtype: torch.dtype | str | None = None,
    trust_remote_code: bool = False,
    cache: Cache | None = None,
    progress: Progress | None = None,
) -> TransformerBridge:
    """A causal LM as a ``TransformerBridge`` in eval mode, with its tokenizer.

    Args:
        name_or_path: ``"zoo:gpt2-4l"`` (see :data:`interplab.robustness.ZOO`), a
            ``save_pretrained`` folder, or a hub id such as ``"gpt2"``.
        device: ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda:1"``, …
        dtype: ``"float32"``, ``"bf16"``, a ``torch.dtype``; ``None`` is float32 (bfloat16 on
            CUDA devices that support it), as :func:`interplab.core.device.resolve_dtype`.
        trust_remote_code: allow a hub model's own Python code to run (off by default).
        cache: the core cache that keeps zoo models (default: ``$INTERPLAB_HOME/cache``).
        progress: progress bar for zoo training, ``progress(iterable, total, description)``
            (default: a rich bar when stderr is a terminal; the loss is also logged to
            ``interplab.robustness``).

    Returns:
        The bridge (raw HF weights: its logits equal the HF model's). ``bridge.cfg.model_name``
        is ``name_or_path`` as given.
    """
    from interplab.core.device import resolve_device, resolve_dtype

    where = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, where)
    folder = _locate(name_or_path, trust_remote_code, cache, progress or _terminal_bar, where)
    _check_folder(folder, name_or_path, trust_remote_code)

    from transformer_lens.model_bridge import TransformerBridge

    with hf_progress_bars_off():
        try:
            bridge = TransformerBridge.boot_transformers(
                str(folder), device=where, dtype=torch_dtype, trust_remote_code=trust_remote_code
            )
        except ValueError as error:
            if "tokenizer" not in str(error).lower():
                raise
            files = [f for f in _TOKENIZER_FILES if (folder / f).is_file()]
            problem = (
                f"its tokenizer cannot be loaded ({error})"
                if files
                else (f"it has no tokenizer files ({', '.join(_TOKENIZER_FILES)})")
            )
            raise ConfigError(
                f"{str(name_or_path)!r} ({folder}): {problem}. Save the model's tokenizer beside "
                "the weights: tokenizer.save_pretrained(folder)."
            ) from None
    bridge.cfg.model_name = str(name_or_path)
    bridge.eval()
    return bridge


def _terminal_bar(
    iterable: Iterable[Any], total: int | None = None, description: str = ""
) -> Iterator[Any]:
    """A rich progress bar on a terminal, nothing otherwise (logs, notebooks, workers)."""
    if not sys.stderr.isatty():
        yield from no_progress(iterable)
        return
    from rich.progress import track

    yield from track(iterable, total=total, description=description, transient=True)


def supported_architectures() -> list[str]:
    """HF architecture class names TransformerLens's bridge can load (sorted)."""
    from transformer_lens.factories.architecture_adapter_factory import SUPPORTED_ARCHITECTURES

    return sorted(SUPPORTED_ARCHITECTURES)


def _locate(
    name_or_path: str | Path,
    trust_remote_code: bool,
    cache: Cache | None,
    progress: Progress,
    device: torch.device,
) -> Path:
    """The local folder to boot from (training a zoo model or fetching from the hub first)."""
    text = str(name_or_path)
    if isinstance(name_or_path, str) and text.startswith(ZOO_PREFIX):
        from interplab.core.cache import Cache
        from interplab.robustness.zoo import train_zoo_model, zoo_spec

        spec = zoo_spec(text)
        return train_zoo_model(
            spec, cache=cache if cache is not None else Cache(), device=device, progress=progress
        )
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ConfigError(
            f"{text!r} is a file; pass the folder that `save_pretrained` wrote (with "
            "config.json and the safetensors weights)."
        )
    # hub ids are "name" or "owner/name"; anything else that is not on disk is a wrong path
    path_like = text.startswith(("/", ".", "~")) or text.count("/") > 1 or "\\" in text
    if isinstance(name_or_path, Path) or path_like:
        raise ConfigError(f"the folder {text!r} does not exist; check the path.")
    return _fetch_from_hub(text, trust_remote_code)


def _fetch_from_hub(repo_id: str, trust_remote_code: bool) -> Path:
    from huggingface_hub import snapshot_download

    from interplab.robustness.zoo import ZOO

    patterns = [*_HUB_FILES, "*.py"] if trust_remote_code else _HUB_FILES
    try:
        return Path(snapshot_download(repo_id=repo_id, allow_patterns=patterns))
    except Exception as error:  # offline, unknown repo, invalid id, gated, network down, …
        close = difflib.get_close_matches(repo_id.removeprefix(ZOO_PREFIX), list(ZOO), n=1)
        hint = f" Did you mean 'zoo:{close[0]}'?" if close else ""
        offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else ""
        raise ConfigError(
            f"cannot load model {repo_id!r}: it is not a zoo name (use one of "
            f"{', '.join(ZOO_PREFIX + n for n in ZOO)}), not an existing folder, and not "
            f"reachable on the Hugging Face hub{offline} ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else 'no detail'}).{hint}"
        ) from error


def _check_folder(folder: Path, name: str | Path, trust_remote_code: bool) -> None:
    """Refuse a folder without config or safetensors, or of an architecture TL lacks."""
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ConfigError(
            f"{str(name)!r} ({folder}) has no config.json; pass a folder written by "
            "`model.save_pretrained(folder)`."
        )
    if not any(folder.glob("*.safetensors")):
        pickles = sorted(p.name for p in folder.glob("*.bin")) + sorted(
            p.name for p in folder.glob("*.pt")
        )
        found = f" (it has {', '.join(pickles)})" if pickles else ""
        raise ConfigError(
            f"{str(name)!r} has no safetensors weights{found}; interplab loads weights from "
            "safetensors only, because unpickling a checkpoint can run code. Convert it once: "
            "`AutoModelForCausalLM.from_pretrained(folder).save_pretrained(folder, "
            "safe_serialization=True)`."
        )
    _check_architecture(folder, name, trust_remote_code)


def _check_architecture(folder: Path, name: str | Path, trust_remote_code: bool) -> None:
    from transformer_lens.model_bridge.sources.transformers import (
        determine_architecture_from_hf_config,
    )
    from transformers import AutoConfig

    raw = json.loads((folder / "config.json").read_text())
    declared = raw.get("architectures") or []
    model_type = raw.get("model_type")
    try:
        config = AutoConfig.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
    except ValueError as error:
        remote = "auto_map" in raw and not trust_remote_code
        fix = (
            "it needs its own code: pass trust_remote_code=True if you trust its author"
            if remote
            else "this transformers version does not know it; upgrade transformers"
        )
        raise ConfigError(
            f"{str(name)!r}: transformers cannot read its config (model_type={model_type!r}, "
            f"architectures={declared}); {fix}. ({error})"
        ) from error
    if declared and not any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in declared):
        raise ConfigError(
            f"{str(name)!r} is a {declared[0]}, not a causal language model: the metrics predict "
            "each next token and the padding assumes a causal mask. Load the checkpoint's "
            "*ForCausalLM / *LMHeadModel variant."
        )
    try:
        determine_architecture_from_hf_config(config)
    except ValueError:
        supported = supported_architectures()
        causal = [a for a in supported if a.endswith(("ForCausalLM", "LMHeadModel"))]
        asked = declared[0] if declared else str(model_type)
        close = difflib.get_close_matches(asked, supported, n=3)
        hint = f" Closest supported: {', '.join(close)}." if close else ""
        raise ConfigError(
            f"{str(name)!r} is a {asked} (model_type={model_type!r}), an architecture "
            f"TransformerLens's TransformerBridge does not support.{hint} Supported causal LMs "
            f"({len(causal)} of {len(supported)} architectures): {', '.join(causal)}."
        ) from None

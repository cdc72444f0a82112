"""Train a zoo model on the corpus and keep it, ``save_pretrained``-style, in the core cache.

The recipe: random windows of ``n_ctx - 1`` tokens from the packed train split, each behind a
BOS (``<|endoftext|>``, as ``to_tokens(prepend_bos=True)`` feeds it later); AdamW with linear
warm-up and cosine decay; gradient clipping at 1; no dropout. Afterwards the held-out split is
scored (loss in nats, top-1 accuracy, and the unigram baseline's top-1) and the folder gets
``model.safetensors``, ``config.json``, the tokenizer files and ``zoo.json`` (spec, curve,
metrics, versions, timing).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interplab.core.analysis import Progress, no_progress
from interplab.core.errors import ConfigError
from interplab.core.threads import cpu_threads
from interplab.robustness._hf import hf_progress_bars_off
from interplab.robustness.zoo.corpus import corpus_digest
from interplab.robustness.zoo.specs import ZooSpec
from interplab.robustness.zoo.tokenizer import token_stream, zoo_tokenizer

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

    from interplab.core.cache import Cache

__all__ = [
    "ZOO_CARD",
    "HeldoutScore",
    "build_model",
    "read_zoo_card",
    "score_heldout",
    "train_zoo_model",
    "zoo_cache_key",
]

log = logging.getLogger("interplab.robustness")
ZOO_CARD = "zoo.json"
"""Name of the file, next to the weights, that describes how the model was made."""
_RECIPE_VERSION = 1
"""Bump when the training code changes what a spec produces."""


def zoo_cache_key(spec: ZooSpec, device: torch.device) -> dict[str, Any]:
    """Everything the trained weights depend on: spec, corpus, library versions, device type."""
    import tokenizers
    import torch
    import transformers

    return {
        "what": "robustness/zoo-model",
        "v": _RECIPE_VERSION,
        "spec": spec.as_dict(),
        "corpus": corpus_digest(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "device": device.type,
    }


def train_zoo_model(
    spec: ZooSpec,
    *,
    cache: Cache,
    device: str | torch.device = "cpu",
    progress: Progress = no_progress,
) -> Path:
    """The folder of the trained model: trained on a cache miss, else read from the cache.

    Args:
        spec: the model and its recipe.
        cache: the core cache that keeps the folder (key: :func:`zoo_cache_key`).
        device: where to train (``"auto"`` allowed); the device type is part of the key.
        progress: ``progress(iterable, total=None, description="")`` shows the steps.

    Returns:
        A ``save_pretrained`` folder (safetensors weights, tokenizer, ``zoo.json``) that
        ``TransformerBridge.boot_transformers(str(folder))`` loads. Don't modify it.
    """
    from interplab.core.device import resolve_device

    where = resolve_device(device)
    return cache.directory(
        zoo_cache_key(spec, where),
        lambda folder: _train_into(folder, spec, cache=cache, device=where, progress=progress),
    )


def read_zoo_card(folder: str | Path) -> dict[str, Any]:
    """The ``zoo.json`` of a trained zoo model: spec, curve, held-out metrics, timing."""
    card: dict[str, Any] = json.loads((Path(folder) / ZOO_CARD).read_text())
    return card


def build_model(spec: ZooSpec) -> PreTrainedModel:
    """A freshly initialised HF model for ``spec`` (seeded by ``spec.seed``, on CPU, fp32).

    GPT-2: GPT2LMHeadModel (gelu_new, learned positions, tied embeddings). NeoX: Pythia's
    GPTNeoXForCausalLM (parallel residual, rotary on a quarter of each head, untied
    embeddings). No dropout; ``<|endoftext|>`` (id 0) is BOS, EOS and padding.
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, GPTNeoXConfig, GPTNeoXForCausalLM

    model: PreTrainedModel
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        if spec.family == "gpt2":
            model = GPT2LMHeadModel(GPT2Config(
                vocab_size=spec.vocab_size, n_positions=spec.n_ctx, n_embd=spec.d_model,
                n_layer=spec.n_layers, n_head=spec.n_heads, n_inner=spec.d_mlp,
                activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0,
                attn_pdrop=0.0, bos_token_id=0, eos_token_id=0, pad_token_id=0,
            ))  # fmt: skip
        else:
            model = GPTNeoXForCausalLM(GPTNeoXConfig(
                vocab_size=spec.vocab_size, hidden_size=spec.d_model,
                num_hidden_layers=spec.n_layers, num_attention_heads=spec.n_heads,
                intermediate_size=spec.d_mlp, max_position_embeddings=spec.n_ctx,
                hidden_act="gelu", use_parallel_residual=True, tie_word_embeddings=False,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                 "partial_rotary_factor": 0.25},
                attention_dropout=0.0, hidden_dropout=0.0, bos_token_id=0, eos_token_id=0,
                pad_token_id=0,
            ))  # fmt: skip
    return model


@dataclass(frozen=True)
class HeldoutScore:
    """Next-token prediction on held-out windows (every position after BOS is a target)."""

    loss: float
    """Mean cross-entropy in nats."""
    top1: float
    """Fraction of targets that are the argmax prediction."""
    unigram_top1: float
    """Fraction of targets equal to the train split's most frequent token (the baseline)."""
    n_tokens: int
    """Targets scored."""


def score_heldout(
    model: PreTrainedModel,
    heldout: torch.Tensor,
    *,
    n_ctx: int,
    n_windows: int,
    most_frequent: int,
    batch_size: int = 32,
) -> HeldoutScore:
    """Score ``model`` on the first ``n_windows`` consecutive windows of ``heldout``.

    Args:
        model: an HF causal LM (in eval mode during the call).
        heldout: int64 ``[n_tokens]`` token ids.
        n_ctx: window length with BOS; each window holds ``n_ctx - 1`` corpus tokens.
        n_windows: at most this many windows (fewer if the split is shorter).
        most_frequent: token id of the unigram baseline.
        batch_size: windows per forward pass.
    """
    import torch

    windows = _heldout_windows(heldout, n_ctx, n_windows)
    device = next(model.parameters()).device
    total_loss, correct, baseline, count = 0.0, 0, 0, 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for batch in windows.split(batch_size):
            batch = batch.to(device)
            logits = model(batch, attention_mask=torch.ones_like(batch), use_cache=False).logits
            logits = logits[:, :-1].float()
            targets = batch[:, 1:]
            total_loss += float(torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum"
            ))  # fmt: skip
            correct += int((logits.argmax(-1) == targets).sum())
            baseline += int((targets == most_frequent).sum())
            count += targets.numel()
    model.train(was_training)
    return HeldoutScore(total_loss / count, correct / count, baseline / count, count)


def _heldout_windows(stream: torch.Tensor, n_ctx: int, n_windows: int) -> torch.Tensor:
    """``[n, n_ctx]``: BOS then ``n_ctx - 1`` consecutive tokens, windows not overlapping."""
    import torch

    body = n_ctx - 1
    n = min(n_windows, len(stream) // body)
    chunks = stream[: n * body].reshape(n, body)
    return torch.cat([torch.zeros(n, 1, dtype=chunks.dtype), chunks], dim=1)


def _train_into(
    folder: Path, spec: ZooSpec, *, cache: Cache, device: torch.device, progress: Progress
) -> None:
    import tokenizers
    import torch
    import transformers

    name = f"{spec.family}-{spec.n_layers}l"
    tokenizer = zoo_tokenizer(spec.vocab_size, cache=cache)
    train = token_stream("train", spec.vocab_size, cache=cache)
    heldout = token_stream("heldout", spec.vocab_size, cache=cache)
    model = build_model(spec).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    with cpu_threads(device) as threads:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        log.info(
            "training zoo model %s: %d parameters, %d steps of %d x %d tokens on %s (%d threads)",
            name, n_params, spec.steps, spec.batch_size, spec.n_ctx, device, threads,
        )  # fmt: skip
        start = time.perf_counter()
        with torch.enable_grad():  # the caller may be inside torch.no_grad()
            curve = _fit(model, train, spec, device=device, progress=progress, name=name)
        train_seconds = time.perf_counter() - start
        most_frequent = int(torch.bincount(train).argmax())
        score = score_heldout(
            model, heldout, n_ctx=spec.n_ctx, n_windows=spec.heldout_windows,
            most_frequent=most_frequent,
        )  # fmt: skip
    log.info(
        "zoo model %s: held-out loss %.3f nats, top-1 %.3f (unigram baseline %.3f), %.0f s",
        name, score.loss, score.top1, score.unigram_top1, train_seconds,
    )  # fmt: skip
    model.eval()
    with hf_progress_bars_off():
        model.to("cpu").save_pretrained(folder, safe_serialization=True)
    tokenizer.model_max_length = spec.n_ctx
    tokenizer.save_pretrained(str(folder))
    card = {
        "name": name,
        "spec": spec.as_dict(),
        "n_params": n_params,
        "train_seconds": train_seconds,
        "train_tokens": spec.steps * spec.batch_size * (spec.n_ctx - 1),
        "heldout": {
            "loss": score.loss,
            "top1": score.top1,
            "unigram_top1": score.unigram_top1,
            "n_tokens": score.n_tokens,
        },
        "curve": curve,
        "corpus": corpus_digest(),
        "device": str(device),
        "threads": threads,
        "load_average_at_start": load,
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
        },
    }
    (folder / ZOO_CARD).write_text(json.dumps(card, indent=1))


def _fit(
    model: PreTrainedModel,
    train: torch.Tensor,
    spec: ZooSpec,
    *,
    device: torch.device,
    progress: Progress,
    name: str,
) -> list[dict[str, float]]:
    """AdamW over random BOS-led windows; returns the logged curve (step, loss, lr)."""
    import torch

    body = spec.n_ctx - 1
    if len(train) <= body:
        raise ConfigError(
            f"the train split has {len(train)} tokens, fewer than n_ctx={spec.n_ctx}; "
            "use a smaller n_ctx."
        )
    generator = torch.Generator().manual_seed(spec.seed)
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": spec.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=spec.lr, betas=(0.9, 0.95), fused=device.type in ("cpu", "cuda"),
    )  # fmt: skip
    offsets = torch.arange(body)
    bos = torch.zeros(spec.batch_size, 1, dtype=torch.long)
    log_every = max(1, spec.steps // 20)
    curve: list[dict[str, float]] = []
    running, seen = 0.0, 0
    model.train()
    steps = progress(range(spec.steps), total=spec.steps, description=f"training zoo:{name}")
    for step in steps:
        lr = _learning_rate(step, spec)
        for group in optimizer.param_groups:
            group["lr"] = lr
        starts = torch.randint(0, len(train) - body, (spec.batch_size, 1), generator=generator)
        batch = torch.cat([bos, train[starts + offsets]], dim=1).to(device)
        logits = model(batch, attention_mask=torch.ones_like(batch), use_cache=False).logits[:, :-1]
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1)
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        running, seen = running + float(loss.detach()), seen + 1
        if (step + 1) % log_every == 0 or step + 1 == spec.steps:
            curve.append({"step": step + 1, "loss": running / seen, "lr": lr})
            log.info("zoo:%s step %d/%d loss %.3f lr %.2e", name, step + 1, spec.steps,
                     running / seen, lr)  # fmt: skip
            running, seen = 0.0, 0
    return curve


def _learning_rate(step: int, spec: ZooSpec) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine from ``lr`` down to ``lr / 10``."""
    if step < spec.warmup_steps:
        return spec.lr * (step + 1) / spec.warmup_steps
    span = max(1, spec.steps - spec.warmup_steps)
    progress = min(1.0, (step - spec.warmup_steps) / span)
    return spec.lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))

"""Train a small GPT-2 on an encoded MIPS task and keep it as a ``save_pretrained`` folder.

Legend: ``N`` rows, ``T = 2L + 1`` tokens per row, ``V`` vocabulary, ``B`` batch size.

Recipe: ``GPT2LMHeadModel`` (learned positions, tied embeddings, no dropout, ``n_ctx = T``),
AdamW (β = 0.9, 0.98; weight decay 0.01) with a linear warm-up over the first 5 % of the steps
and cosine decay, gradient clipping at 1, cross-entropy over the full vocabulary at the ``L``
positions that predict an output only (the ``x`` tokens; see :mod:`.encoding`). Batches are
drawn with replacement from the training rows by a generator seeded with the training seed; the
model is initialised under the same seed. Training runs on one CPU thread (restored afterwards)
so that a rerun with the same seed gives the same weights bit for bit.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from interplab.compose._algorithmic.encoding import BOS_ID, TaskVocabulary

if TYPE_CHECKING:
    import torch
    from transformers import GPT2LMHeadModel

__all__ = [
    "CARD",
    "TrainSettings",
    "build_gpt2",
    "output_accuracy",
    "output_logits",
    "read_card",
    "train_into",
]

CARD = "compose-train.json"
"""File next to the weights describing how the model was trained (settings, curve, accuracy)."""


@dataclass(frozen=True)
class TrainSettings:
    """What the trained weights depend on (besides the data)."""

    n_layers: int
    d_model: int
    n_heads: int
    steps: int
    batch_size: int
    lr: float
    seed: int

    def as_dict(self) -> dict[str, Any]:
        """JSON values, for cache keys and the card."""
        return dict(self.__dict__)


def build_gpt2(vocab_size: int, n_ctx: int, settings: TrainSettings) -> GPT2LMHeadModel:
    """A freshly initialised GPT-2 (seeded by ``settings.seed``, CPU, float32, no dropout)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab_size, n_positions=n_ctx, n_embd=settings.d_model,
        n_layer=settings.n_layers, n_head=settings.n_heads, n_inner=4 * settings.d_model,
        activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=BOS_ID, eos_token_id=BOS_ID, pad_token_id=BOS_ID,
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        return GPT2LMHeadModel(config)


def output_logits(logits: torch.Tensor) -> torch.Tensor:
    """``[N, L, V]`` the logits at the positions that predict an output (tokens 1, 3, …)."""
    return logits[:, 1:-1:2]


def output_accuracy(logits: torch.Tensor, rows: torch.Tensor) -> float:
    """Top-1 accuracy over the full vocabulary at the ``L`` output predictions of each row.

    Args:
        logits: ``[N, T, V]`` a model's logits on ``rows``.
        rows: ``[N, T]`` encoded rows (``BOS x_1 y_1 …``).
    """
    predicted = output_logits(logits).argmax(-1)  # [N, L]
    return float((predicted == rows[:, 2::2].to(predicted.device)).double().mean())


def _schedule(step: int, steps: int, lr: float) -> float:
    warmup = max(1, steps // 20)
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def _fit(
    model: GPT2LMHeadModel,
    rows: torch.Tensor,
    settings: TrainSettings,
    device: torch.device,
    progress: Callable[..., Iterator[Any]],
    description: str,
) -> list[tuple[int, float]]:
    """Train in place; returns ``(step, mean loss since the last point)`` every ~5 % of steps."""
    import torch

    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.lr, betas=(0.9, 0.98), weight_decay=0.01
    )
    generator = torch.Generator().manual_seed(settings.seed)
    every = max(1, settings.steps // 20)
    curve: list[tuple[int, float]] = []
    running, count = 0.0, 0
    model.train()
    steps: Iterable[int] = progress(
        range(settings.steps), total=settings.steps, description=description
    )
    for step in steps:
        for group in optimizer.param_groups:
            group["lr"] = _schedule(step, settings.steps, settings.lr)
        pick = torch.randint(len(rows), (settings.batch_size,), generator=generator)
        batch = rows[pick].to(device)  # [B, T]
        logits = output_logits(
            model(batch, attention_mask=torch.ones_like(batch), use_cache=False).logits
        )  # [B, L, V]
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), batch[:, 2::2].reshape(-1)
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        running += float(loss.detach())
        count += 1
        if (step + 1) % every == 0 or step + 1 == settings.steps:
            curve.append((step + 1, running / count))
            running, count = 0.0, 0
    model.eval()
    return curve


def _save_tokenizer(folder: Path, vocab: TaskVocabulary, n_ctx: int) -> None:
    """A word-level tokenizer over :meth:`TaskVocabulary.token_names` (whitespace-separated)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    names = vocab.token_names()
    backend = Tokenizer(models.WordLevel({n: i for i, n in enumerate(names)}, unk_token="<bos>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<bos>", eos_token="<bos>", pad_token="<bos>",
        unk_token="<bos>", model_max_length=n_ctx,
    )  # fmt: skip
    tokenizer.save_pretrained(str(folder))


def train_into(
    folder: Path,
    *,
    vocab: TaskVocabulary,
    train_rows: np.ndarray,
    test_rows: np.ndarray,
    settings: TrainSettings,
    device: torch.device,
    progress: Callable[..., Iterator[Any]],
) -> None:
    """Train a GPT-2 on ``train_rows`` ``(N, T)`` and ``save_pretrained`` it into ``folder``.

    The folder gets ``model.safetensors``, ``config.json``, a word-level tokenizer over the
    task's symbols and :data:`CARD` (settings, loss curve, train seconds, the HF model's test
    accuracy at the output positions).
    """
    import torch

    n_ctx = int(train_rows.shape[1])
    model = build_gpt2(vocab.size, n_ctx, settings).to(device)
    rows = torch.from_numpy(np.ascontiguousarray(train_rows))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        start = time.perf_counter()
        with torch.enable_grad():
            curve = _fit(model, rows, settings, device, progress, f"train {vocab.task}")
        seconds = time.perf_counter() - start
        with torch.no_grad():
            test = torch.from_numpy(np.ascontiguousarray(test_rows)).to(device)
            ones = torch.ones_like(test)  # no padding; passing it silences HF's warning
            accuracy = output_accuracy(
                model(test, attention_mask=ones, use_cache=False).logits, test
            )
    finally:
        torch.set_num_threads(threads)
    model.to("cpu").save_pretrained(str(folder), safe_serialization=True)
    _save_tokenizer(folder, vocab, n_ctx)
    card = {
        "task": vocab.task,
        "settings": settings.as_dict(),
        "vocab_size": vocab.size,
        "n_ctx": n_ctx,
        "n_params": sum(p.numel() for p in model.parameters()),
        "n_train_rows": len(train_rows),
        "train_seconds": seconds,
        "curve": curve,
        "hf_test_accuracy": accuracy,
    }
    (folder / CARD).write_text(json.dumps(card, indent=1))


def read_card(folder: str | Path) -> dict[str, Any]:
    """The :data:`CARD` of a trained folder."""
    card: dict[str, Any] = json.loads((Path(folder) / CARD).read_text())
    return card

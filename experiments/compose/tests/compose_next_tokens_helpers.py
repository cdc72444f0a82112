"""Builders for the next-token tests: a toy code corpus, a tiny BPE and a tiny trained GPT-2.

Nothing is downloaded: the model is a ``save_pretrained`` folder, loaded the way any local model
is. A uniquely named module (not ``conftest``), so several packages' tests can be collected in
one run.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

WORDS = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta"]


def toy_file(index: int, n_functions: int = 12) -> str:
    """A deterministic code-like file: small functions with a docstring and a return."""
    parts = []
    for f in range(n_functions):
        w = [WORDS[(index * 3 + f * k + k) % len(WORDS)] for k in range(1, 5)]
        parts.append(
            f"def {w[0]}_{w[1]}(value, other):\n"
            f"    '''Return the {w[2]} of the {w[3]} value.'''\n"
            f"    result = value + other * {(index + f) % 7}\n"
            f"    return result\n"
        )
    return "\n".join(parts)


def write_corpus(folder: Path, n_files: int = 4) -> Path:
    """``n_files`` toy files as .txt in ``folder`` (a corpus for ``corpus=<folder>``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_files):
        (folder / f"file{i}.txt").write_text(toy_file(i), encoding="utf-8")
    return folder


def build_tokenizer(vocab_size: int = 320):  # type: ignore[no-untyped-def]
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        [toy_file(i) for i in range(16)],
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=["<|endoftext|>"],
        show_progress=False,
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )


def train_tiny_gpt2(path: Path, *, n_layers: int = 2, steps: int = 120, seed: int = 0) -> Path:
    """A tiny GPT-2 (d=32, ctx 64) trained ``steps`` AdamW steps on toy files, saved to ``path``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    config = GPT2Config(
        n_layer=n_layers, n_embd=32, n_head=2, n_positions=64, vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.bos_token_id,
    )  # fmt: skip
    model = GPT2LMHeadModel(config)
    stream: list[int] = []
    for i in range(16):
        stream += [tokenizer.bos_token_id, *tokenizer(toy_file(i))["input_ids"]]
    windows = torch.tensor(stream[: len(stream) // 64 * 64]).view(-1, 64)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.enable_grad():
            model.train()
            for _ in range(steps):
                batch = windows[torch.randint(len(windows), (8,), generator=generator)]
                loss = model(batch, labels=batch, use_cache=False).loss
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path

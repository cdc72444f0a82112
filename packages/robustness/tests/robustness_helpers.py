"""Builders for the robustness tests: a toy corpus, a tiny BPE, tiny GPT-2 / GPT-NeoX models.

Nothing is downloaded: the models are ``save_pretrained`` directories loaded the same way a hub
model would be. A uniquely named module (not ``conftest``) so that test files can import it
when pytest collects several packages' tests in one run.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TEMPLATE = (
    "def {name}(value):\n    return value + {n}\n\n"
    "class {cls}:\n    '''The {adj} {noun} of the {noun2}.'''\n"
)
WORDS = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta"]


def toy_corpus(n: int = 400) -> list[str]:
    """Templated code-like documents (deterministic)."""
    docs = []
    for i in range(n):
        w = [WORDS[(i * k + k) % len(WORDS)] for k in range(1, 6)]
        docs.append(
            TEMPLATE.format(name=w[0], n=i % 17, cls=w[1].title(), adj=w[2], noun=w[3], noun2=w[4])
        )
    return docs


def build_tokenizer(vocab_size: int = 300):
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        toy_corpus(),
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


def save_tiny(path: Path, family: str, n_layers: int = 4, seed: int = 0) -> Path:
    """A random tiny ``family`` ("gpt2" or "neox") model + tokenizer saved under ``path``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, GPTNeoXConfig, GPTNeoXForCausalLM

    tokenizer = build_tokenizer()
    vocab = len(tokenizer)
    torch.manual_seed(seed)
    if family == "gpt2":
        config = GPT2Config(
            n_layer=n_layers,
            n_embd=64,
            n_head=4,
            n_positions=64,
            vocab_size=vocab,
            bos_token_id=0,
            eos_token_id=0,
        )
        model = GPT2LMHeadModel(config)
    else:
        config = GPTNeoXConfig(
            num_hidden_layers=n_layers,
            hidden_size=64,
            num_attention_heads=4,
            intermediate_size=256,
            max_position_embeddings=64,
            vocab_size=vocab,
            use_parallel_residual=True,
            rotary_pct=0.25,
            tie_word_embeddings=False,
            bos_token_id=0,
            eos_token_id=0,
        )
        model = GPTNeoXForCausalLM(config)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


# --- interventions, metrics and the sweep -------------------------------------------------------


def boot(path: Path):
    """A TransformerBridge of the save_pretrained dir ``path`` on CPU."""
    from transformer_lens.model_bridge import TransformerBridge

    return TransformerBridge.boot_transformers(str(path), device="cpu")


def train_tiny(path: Path, family: str, steps: int = 300, seed: int = 0) -> Path:
    """``save_tiny`` then ``steps`` AdamW steps on ``toy_corpus`` windows (reference §10.5)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    save_tiny(path, family, seed=seed)
    model = AutoModelForCausalLM.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    stream: list[int] = []
    for doc in toy_corpus():
        stream += [tokenizer.bos_token_id, *tokenizer(doc, add_special_tokens=False)["input_ids"]]
    windows = torch.tensor(stream[: len(stream) // 64 * 64]).view(-1, 64)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops on a loaded machine: one thread is several times faster
    try:
        with torch.enable_grad():  # a test module may have switched autograd off globally
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
    return path

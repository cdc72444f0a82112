"""What each zoo model is: family, shape and training recipe.

Two families, as in the paper: GPT-2 (sequential residual, learned positions, tied embeddings)
and GPT-NeoX/Pythia (parallel residual, rotary on 25 % of each head, untied embeddings). Within a
family every depth shares width and recipe, so depth is the only thing that varies.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any, Literal

from interplab.core.errors import ConfigError

__all__ = ["ZOO", "Family", "ZooSpec", "zoo_spec"]

Family = Literal["gpt2", "neox"]


@dataclass(frozen=True)
class ZooSpec:
    """A causal LM of the zoo and how it is trained (every field goes into the cache key)."""

    family: Family
    """``"gpt2"`` (GPT2LMHeadModel) or ``"neox"`` (GPTNeoXForCausalLM, parallel residual)."""
    n_layers: int
    d_model: int
    n_heads: int
    d_mlp: int
    n_ctx: int
    """Tokens per training window, BOS included; also the model's context length."""
    vocab_size: int = 4096
    """Size of the byte-level BPE trained on the corpus (257 at least)."""
    steps: int = 1500
    batch_size: int = 4
    lr: float = 5e-3
    """Peak AdamW learning rate (linear warm-up, cosine decay to a tenth of it)."""
    seed: int = 0
    warmup_steps: int = 30
    weight_decay: float = 0.01
    heldout_windows: int = 256
    """Held-out windows of ``n_ctx`` tokens scored after training."""

    def __post_init__(self) -> None:
        if self.family not in ("gpt2", "neox"):
            raise ConfigError(f"family={self.family!r} is not known; use 'gpt2' or 'neox'.")
        for name in ("n_layers", "d_model", "n_heads", "d_mlp", "steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be a positive integer.")
        if self.d_model % self.n_heads:
            raise ConfigError(
                f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}; "
                "choose n_heads that divides d_model."
            )
        if self.n_ctx < 8:
            raise ConfigError(f"n_ctx={self.n_ctx} is too short; use at least 8 tokens.")
        if self.vocab_size < 257:
            raise ConfigError(
                f"vocab_size={self.vocab_size} is below 257 (256 bytes + <|endoftext|>); "
                "use a few thousand."
            )
        if not self.lr > 0 or self.weight_decay < 0 or self.warmup_steps < 0:
            raise ConfigError(
                f"lr={self.lr}, weight_decay={self.weight_decay}, warmup_steps="
                f"{self.warmup_steps}: lr must be > 0, the others >= 0."
            )
        if self.heldout_windows < 1:
            raise ConfigError(f"heldout_windows={self.heldout_windows} must be at least 1.")

    def as_dict(self) -> dict[str, Any]:
        """The fields as JSON values (for cache keys, records and ``zoo.json``)."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> ZooSpec:
        """A copy with some fields changed (validated again); unknown fields raise ConfigError."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(f"ZooSpec has no field(s) {unknown}; known fields: {sorted(known)}.")
        return dataclasses.replace(self, **changes)


_WIDTH = {"d_model": 64, "n_heads": 4, "d_mlp": 256, "n_ctx": 128}
"""Every zoo model's width. The default recipe is 1500 steps of 4 × 127 tokens (0.76 M tokens,
under an epoch). Measured on 2 idle cores: ``gpt2-2l`` 42 s, ``gpt2-4l`` 57 s (plus 18 s once
for the tokenizer); on a busy machine, one core: ``gpt2-12l`` 204 s, the whole zoo 20 minutes."""


def _family(family: Family, depths: tuple[int, ...], **recipe: Any) -> dict[str, ZooSpec]:
    return {
        f"{family}-{n}l": ZooSpec(family=family, n_layers=n, **_WIDTH, **recipe) for n in depths
    }


ZOO: dict[str, ZooSpec] = {
    # Peak learning rates, chosen on the 2-layer models after 500 steps: GPT-2 (tied embeddings,
    # learned positions) did best at 2e-3 of 1, 2, 3, 5, 10 × 1e-3; NeoX did better at 5e-3
    # than at 2e-3.
    **_family("gpt2", (2, 4, 8, 12), lr=2e-3),
    **_family("neox", (2, 4, 8, 12), lr=5e-3),
}
"""The zoo by name (``gpt2-4l``, ``neox-12l``, …): load one with ``load_model("zoo:gpt2-4l")``."""


def zoo_spec(name: str) -> ZooSpec:
    """The spec of the zoo model ``name`` (with or without the ``zoo:`` prefix)."""
    bare = name.removeprefix("zoo:")
    if bare in ZOO:
        return ZOO[bare]
    close = difflib.get_close_matches(bare, list(ZOO), n=2)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ConfigError(f"{name!r} is not a zoo model.{hint} Zoo models: {', '.join(ZOO)}.")

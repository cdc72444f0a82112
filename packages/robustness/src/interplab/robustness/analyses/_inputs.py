"""What every robustness analysis starts from: a model and a token set, named in its config."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from interplab.core.analysis import AnalysisConfig, RunContext
from interplab.core.errors import ConfigError

if TYPE_CHECKING:
    from interplab.robustness.tokens import TokenSet

__all__ = ["ModelTokensConfig", "input_digests", "load_model_and_tokens", "summary_params"]


class ModelTokensConfig(AnalysisConfig):
    """A model and the tokens to run it on."""

    model: str = "zoo:gpt2-4l"
    """A zoo name (``zoo:<name>``), a local save_pretrained directory or a Hugging Face id."""
    corpus: str = "stdlib-heldout"
    """``stdlib-heldout`` (the zoo corpus's held-out documents) or a folder of .txt files."""
    token_budget: int = Field(default=16_384, ge=2)
    """Real tokens in total (BOS included)."""
    seq_len: int | None = Field(default=None, ge=2)
    """Longest row; documents are cut there. Default: the model's context (n_ctx), as in the
    paper; more than the context is refused."""
    batch_size: int = Field(default=8, ge=1)
    windows: bool = True
    """Documents longer than a row continue in further rows until the budget is spent; False
    cuts each after its first row (the paper's protocol: one row per document)."""


def _documents(corpus: str) -> list[Any]:
    if corpus == "stdlib-heldout":
        from interplab.robustness.zoo.corpus import documents

        return list(documents("heldout"))
    folder = Path(corpus)
    if not folder.is_dir():
        raise ConfigError(
            f"corpus={corpus!r} is neither 'stdlib-heldout' nor a folder of .txt files."
        )
    texts = sorted(folder.glob("*.txt"))
    if not texts:
        raise ConfigError(f"corpus folder {folder} holds no .txt files; add some.")
    return [_Doc(p.stem, p.read_text(encoding="utf-8")) for p in texts]


class _Doc:
    def __init__(self, doc_id: str, text: str) -> None:
        self.doc_id, self.text = doc_id, text


def load_model_and_tokens(config: ModelTokensConfig, ctx: RunContext) -> tuple[Any, TokenSet]:
    """The bridge named by ``config.model`` on ``ctx.device`` and its tokens of the corpus."""
    from interplab.robustness.models import load_model
    from interplab.robustness.tokens import load_tokens

    model = load_model(config.model, device=ctx.device, cache=ctx.cache, progress=ctx.progress)
    tokens = load_tokens(
        _documents(config.corpus),
        model,
        token_budget=config.token_budget,
        seq_len=config.seq_len,
        batch_size=config.batch_size,
        windows=config.windows,
    )
    return model, tokens


def summary_params(names: tuple[str, ...]) -> dict[str, Any]:
    """Params of a run's summary record: the models it covers, under ``models`` and ``model``.

    ``model`` is the one model, or None for several: the config's ``model`` is then its unused
    default, and a summary carrying it would be filed under a model it never ran.
    """
    return {"models": list(names), "model": names[0] if len(names) == 1 else None}


def input_digests(model: Any, tokens: TokenSet | None = None) -> dict[str, str]:
    """Content hashes of the model's weights and (if given) the token ids and masks.

    Records carry them as ``inputs``, so runs on the same model and tokens join across analyses.
    """
    from interplab.core.hashing import digest_tensors

    inputs = {"model": digest_tensors(model.state_dict())}
    if tokens is not None:
        inputs["tokens"] = digest_tensors(
            {f"{i}.ids": b.ids for i, b in enumerate(tokens)}
            | {f"{i}.mask": b.mask for i, b in enumerate(tokens)}
        )
    return inputs

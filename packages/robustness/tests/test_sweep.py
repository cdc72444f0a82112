from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from robustness_helpers import boot, toy_corpus

from interplab.core.errors import ConfigError
from interplab.robustness.interventions import Delete, Repeat, Swap, intervene, logits
from interplab.robustness.metrics import summarize, token_metrics
from interplab.robustness.plots import plot_sweep
from interplab.robustness.sweep import KINDS, layer_sweep
from interplab.robustness.tokens import TokenBatch, TokenSet, load_tokens

pytestmark = pytest.mark.usefixtures("no_grad_one_thread")
NUMBERS = ["kl", "top1_agreement", "acc_orig", "acc_int", "acc_retained", "loss_orig",
           "loss_int", "loss_delta", "entropy_orig", "entropy_int"]  # fmt: skip


def tokens_for(bridge, n_docs: int = 12, budget: int = 300) -> TokenSet:
    docs = toy_corpus(60)[-n_docs:]  # the last documents, varied
    return load_tokens(docs, bridge, token_budget=budget, seq_len=32, batch_size=4)


def test_prefix_reuse_gives_the_numbers_of_full_recomputation(tiny_dir: Path) -> None:
    bridge = boot(tiny_dir)
    tokens = tokens_for(bridge)
    fast = layer_sweep(bridge, tokens, KINDS, n_bootstrap=50)
    full = layer_sweep(bridge, tokens, KINDS, prefix_reuse=False, n_bootstrap=50)
    pd.testing.assert_frame_equal(fast, full, check_exact=False, rtol=0, atol=1e-5)
    assert len(fast) == 4 + 3 + 4 + 4 + 4  # delete, swap, repeat, delete-attn, delete-mlp


def count_block_calls(bridge, run) -> int:
    calls = []
    handles = [b.register_forward_pre_hook(lambda *a: calls.append(1)) for b in bridge.blocks]
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    return len(calls)


def test_prefix_reuse_runs_only_the_blocks_after_the_shared_prefix(tiny_gpt2_dir: Path) -> None:
    bridge = boot(tiny_gpt2_dir)
    tokens = tokens_for(bridge, n_docs=2, budget=60)
    assert len(tokens) == 1
    fast = count_block_calls(bridge, lambda: layer_sweep(bridge, tokens, n_bootstrap=1))
    full = count_block_calls(
        bridge, lambda: layer_sweep(bridge, tokens, prefix_reuse=False, n_bootstrap=1)
    )
    assert full == 4 + 4 * 3 + 3 * 4  # clean run, 4 deletions of 3 blocks, 3 swaps of 4
    # delete L runs L+1.. from the clean stream entering L (the last one re-runs block 2);
    # swap L, L+1 runs L, L+2.. from the stream "delete L" computed after block L+1
    assert fast == 4 + (3 + 2 + 1 + 1) + (3 + 2 + 1)


def test_sweep_rows_are_the_pooled_token_metrics_of_each_intervention(tiny_neox_dir: Path) -> None:
    bridge = boot(tiny_neox_dir)
    tokens = tokens_for(bridge)
    frame = layer_sweep(bridge, tokens, ("delete", "swap", "repeat"), n_bootstrap=50)
    for label, op in (
        ("delete-L1", Delete(1)),
        ("swap-L2-L3", Swap(2, 3)),
        ("repeat-L0", Repeat(0)),
    ):
        grids = []
        for batch in tokens:
            clean = logits(bridge, batch.ids)
            with intervene(bridge, op):
                out = logits(bridge, batch.ids)
            per_token = token_metrics(clean, out, batch.targets, batch.target_mask)
            grids.append({k: v[batch.target_mask] for k, v in per_token.items()})
        pooled = summarize({k: torch.cat([g[k] for g in grids]) for k in grids[0]})
        row = frame.set_index("intervention").loc[label]
        assert row["n_tokens"] == pooled["n_tokens"] == tokens.n_predictions
        for key in NUMBERS:
            want = pytest.approx(pooled[key], rel=1e-9, abs=1e-12, nan_ok=True)
            assert row[key] == want, (label, key)


def test_sweep_frame_layout_depth_and_determinism(tiny_gpt2_dir: Path) -> None:
    bridge = boot(tiny_gpt2_dir)
    tokens = tokens_for(bridge)
    frame = layer_sweep(bridge, tokens, ("swap", "delete"), model_name="tiny", n_bootstrap=200)
    assert list(frame["intervention"]) == [
        "swap-L0-L1", "swap-L1-L2", "swap-L2-L3", "delete-L0", "delete-L1", "delete-L2",
        "delete-L3",
    ]  # fmt: skip
    assert list(frame["layers"]) == ["0-1", "1-2", "2-3", "0", "1", "2", "3"]
    np.testing.assert_allclose(frame["relative_depth"], [0, 1 / 3, 2 / 3, 0, 1 / 3, 2 / 3, 1])
    assert (frame["model"] == "tiny").all() and (frame["n_tokens"] == tokens.n_predictions).all()
    assert list(frame["swap_mode"]) == ["module"] * 3 + [""] * 4
    for key in ("kl", "top1_agreement", "acc_retained", "loss_delta", "entropy_int"):
        assert (frame[f"{key}_ci_low"] <= frame[f"{key}_ci_high"]).all()
    assert ((frame["kl_ci_low"] <= frame["kl"]) & (frame["kl"] <= frame["kl_ci_high"])).all()
    assert (frame["kl_ci_low"] < frame["kl_ci_high"]).all()  # documents do differ
    again = layer_sweep(bridge, tokens, ("swap", "delete"), model_name="tiny", n_bootstrap=200)
    pd.testing.assert_frame_equal(frame, again, check_exact=True)
    weights = layer_sweep(bridge, tokens, ("swap",), swap_mode="weights", n_bootstrap=200)
    np.testing.assert_allclose(weights["kl"], frame["kl"][:3], rtol=1e-6)
    assert list(weights["intervention"]) == ["swap-L0-L1", "swap-L1-L2", "swap-L2-L3"]


def test_per_token_frame_matches_the_summary(tiny_gpt2_dir: Path) -> None:
    bridge = boot(tiny_gpt2_dir)
    tokens = tokens_for(bridge)
    frame, per_token = layer_sweep(bridge, tokens, ("delete",), layers=[0, 2], per_token=True)
    assert list(frame["intervention"]) == ["delete-L0", "delete-L2"]
    assert len(per_token) == 2 * tokens.n_predictions
    means = per_token.groupby("intervention")[["kl", "loss_orig", "loss_int", "H_int"]].mean()
    for row in frame.itertuples():
        assert means.loc[row.intervention, "kl"] == pytest.approx(row.kl, rel=1e-12)
        assert means.loc[row.intervention, "H_int"] == pytest.approx(row.entropy_int, rel=1e-12)
    first = per_token[per_token["intervention"] == "delete-L0"]
    docs = [d for b in tokens for d in b.doc_ids]
    assert len(docs) > len(set(docs)), "long documents continue in further rows"
    assert list(dict.fromkeys(first["doc_id"])) == list(dict.fromkeys(docs))
    assert not first.duplicated(["doc_id", "target_index"]).any()  # one token each
    for doc, rows in first.groupby("doc_id", sort=False):
        assert list(rows["target_index"]) == list(range(len(rows))), doc  # whole, in order
    batch = tokens.batches[0]
    row0 = first[first["doc_id"] == batch.doc_ids[0]].iloc[: int(batch.mask[0].sum()) - 1]
    assert list(row0["pos"]) == list(range(int(batch.mask[0].sum()) - 1))
    assert list(row0["target_id"]) == batch.ids[0, 1 : len(row0) + 1].tolist()


def test_bad_sweep_arguments_are_clear_errors(tiny_gpt2_dir: Path) -> None:
    bridge = boot(tiny_gpt2_dir)
    tokens = tokens_for(bridge, n_docs=2, budget=60)
    with pytest.raises(ConfigError, match=r"kinds=\['drop'\]: choose one or more of"):
        layer_sweep(bridge, tokens, ("drop",))
    with pytest.raises(ConfigError, match=r"kinds='delete' is one string; pass a tuple"):
        layer_sweep(bridge, tokens, "delete")
    with pytest.raises(ConfigError, match=r"layers=\[1, 7\] includes \[7\].*use 0\.\.3"):
        layer_sweep(bridge, tokens, layers=[1, 7])
    with pytest.raises(ConfigError, match=r"n_bootstrap=0"):
        layer_sweep(bridge, tokens, n_bootstrap=0)
    ids = torch.zeros(2, 3, dtype=torch.long)
    mask = torch.tensor([[True, False, False], [True, False, False]])  # BOS only: no predictions
    empty = TokenSet((TokenBatch(ids, mask, ("a", "b")),), 2, 3, 0, 0)
    with pytest.raises(ConfigError, match=r"no prediction positions"):
        layer_sweep(bridge, empty)
    with pytest.raises(ConfigError, match=r"select no intervention on 4 layers"):
        layer_sweep(bridge, tokens, ("swap",), layers=[3])
    with pytest.raises(ConfigError, match=r"select no intervention"):
        layer_sweep(bridge, tokens, layers=[])
    too_long = TokenSet(
        (
            TokenBatch(
                torch.ones(1, 80, dtype=torch.long), torch.ones(1, 80, dtype=torch.bool), ("a",)
            ),
        ),
        1,
        80,
        0,
        0,
    )
    with pytest.raises(ConfigError, match=r"rows of 80 tokens exceed the model's context n_ctx=64"):
        layer_sweep(bridge, too_long)
    with pytest.raises(ConfigError, match=r"tokens is a list; pass the TokenSet"):
        layer_sweep(bridge, list(tokens.batches))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"tokens is a Tensor; pass the TokenSet"):
        layer_sweep(bridge, tokens.batches[0].ids)  # type: ignore[arg-type]


def test_the_bootstrap_resamples_documents_with_their_windows_together() -> None:
    """Rows of one document are one bootstrap unit: the CIs are those of a document resampling
    computed here by hand with the same generator."""
    from interplab.robustness.sweep import _SUMS, _frame, sweep_items

    items = sweep_items(2, ("delete",))[:1]
    rng = np.random.default_rng(1)
    row_sums = rng.random((5, len(_SUMS)))  # [rows, M]
    counts = np.array([3.0, 4.0, 2.0, 5.0, 1.0])  # predictions per row
    doc_ids = ["a", "b", "a", "c", "b"]  # windows of three documents, interleaved
    frame = _frame(items, [[row_sums]], [counts], doc_ids, "m", 2, "", n_bootstrap=200, seed=3)
    docs = {"a": [0, 2], "b": [1, 4], "c": [3]}
    doc_sums = np.stack([row_sums[rows].sum(axis=0) for rows in docs.values()])  # [D, M]
    doc_counts = np.array([counts[rows].sum() for rows in docs.values()])
    weights = np.random.default_rng(3).multinomial(3, np.full(3, 1 / 3), size=200)  # [R, D]
    kl = (weights @ doc_sums)[:, _SUMS.index("kl")] / (weights @ doc_counts)
    low, high = np.percentile(kl, [2.5, 97.5])
    assert frame.loc[0, "kl_ci_low"] == pytest.approx(low, rel=1e-12)
    assert frame.loc[0, "kl_ci_high"] == pytest.approx(high, rel=1e-12)
    assert frame.loc[0, "kl"] == pytest.approx(row_sums[:, 0].sum() / counts.sum(), rel=1e-12)


def test_plot_sweep_draws_one_line_per_model_with_bands(tiny_gpt2_dir: Path) -> None:
    bridge = boot(tiny_gpt2_dir)
    tokens = tokens_for(bridge, n_docs=4, budget=120)
    frame = pd.concat(
        [layer_sweep(bridge, tokens, model_name=name, n_bootstrap=20) for name in ("m-12", "m-4")]
    )
    fig = plot_sweep(frame, "kl", kind="delete")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["m-4", "m-12"], "numbers sort as numbers"
    assert list(ax.lines[0].get_xdata()) == [0, 1 / 3, 2 / 3, 1]
    assert len(ax.collections) == 2  # one CI band per model
    with pytest.raises(ConfigError, match=r"metric='kll'"):
        plot_sweep(frame, "kll", kind="delete")
    with pytest.raises(ConfigError, match=r"kind='repeat' has no rows"):
        plot_sweep(frame, "kl", kind="repeat")


@pytest.mark.parametrize("family", ["gpt2", "neox"])
def test_trained_toy_models_break_when_layer_0_is_deleted(
    family: str, request: pytest.FixtureRequest
) -> None:
    """Reference §10.5: deleting L0 is catastrophic; L1-L3 are nearly free."""
    bridge = boot(request.getfixturevalue(f"trained_{family}_dir"))
    tokens = tokens_for(bridge, n_docs=16, budget=800)
    clean = [logits(bridge, b.ids) for b in tokens]
    frame = layer_sweep(bridge, tokens, n_bootstrap=100).set_index("intervention")
    assert frame["acc_orig"].iloc[0] > 0.8  # the model learned the templates
    first, rest = frame.loc["delete-L0"], frame.loc[["delete-L1", "delete-L2", "delete-L3"]]
    assert first["kl"] > 10 * rest["kl"].max()
    assert first["acc_retained"] < 0.75 and (rest["acc_retained"] > 0.9).all()
    assert first["loss_delta"] > 10 * rest["loss_delta"].max()
    assert frame.loc["swap-L0-L1", "kl"] > 5 * frame.loc[["swap-L1-L2", "swap-L2-L3"], "kl"].max()
    for batch, before in zip(tokens, clean, strict=True):  # the model is unchanged afterwards
        assert torch.equal(logits(bridge, batch.ids), before)

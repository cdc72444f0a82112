import math

import numpy as np
import pytest
import torch

from interplab.core.errors import ShapeError
from interplab.robustness import metrics
from interplab.robustness.metrics import baseline, compare, summarize, token_frame, token_metrics
from interplab.robustness.tokens import TokenBatch


def log_softmax(x: np.ndarray) -> np.ndarray:
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def reference(lo: np.ndarray, li: np.ndarray, targets: np.ndarray) -> dict[str, np.ndarray]:
    """Textbook formulas at every position pos (predicting token pos + 1), float64."""
    lp, lq = log_softmax(lo[:, :-1]), log_softmax(li[:, :-1])
    p, q = np.exp(lp), np.exp(lq)
    take = lambda a: np.take_along_axis(a, targets[..., None], -1)[..., 0]  # noqa: E731
    top_o, top_i = lo[:, :-1].argmax(-1), li[:, :-1].argmax(-1)
    return {
        "kl": (p * (lp - lq)).sum(-1),
        "loss_orig": -take(lp),
        "loss_int": -take(lq),
        "loss_delta": take(lp) - take(lq),
        "entropy_orig": -(p * np.log2(p)).sum(-1),
        "entropy_int": -(q * np.log2(q)).sum(-1),
        "top1_orig": top_o,
        "top1_int": top_i,
        "agree": top_o == top_i,
        "correct_orig": top_o == targets,
        "correct_int": top_i == targets,
    }


def random_case(seed: int, b: int = 3, t: int = 9, v: int = 37):
    g = torch.Generator().manual_seed(seed)
    lo = torch.randn(b, t, v, generator=g, dtype=torch.float64) * 3
    li = lo + torch.randn(b, t, v, generator=g, dtype=torch.float64) * 0.7
    li[0] = lo[0]  # one row identical: KL 0, full agreement
    ids = torch.randint(v, (b, t), generator=g)
    ids[:, 1:4] = lo[:, :3].argmax(-1)  # some predictions are right
    mask = torch.ones(b, t, dtype=torch.bool)
    mask[1, 6:] = False  # right padding
    mask[2, 3:] = False
    return lo, li, ids, mask


@pytest.mark.parametrize("seed", [0, 1])
def test_token_metrics_match_the_textbook_formulas(seed: int) -> None:
    lo, li, ids, mask = random_case(seed)
    got = token_metrics(lo, li, ids[:, 1:], mask[:, 1:])
    want = reference(lo.numpy(), li.numpy(), ids[:, 1:].numpy())
    real = mask[:, 1:].numpy()
    assert set(got) == set(want)
    for key, expected in want.items():
        values = got[key].numpy()
        assert values.shape == real.shape, key
        if key in metrics.FLOAT_METRICS:
            assert values.dtype == np.float64
            np.testing.assert_allclose(values[real], expected[real], rtol=1e-9, atol=1e-12)
            assert np.isnan(values[~real]).all(), key  # masked positions excluded
        elif key.startswith("top1"):
            np.testing.assert_array_equal(values[real], expected[real])
            assert (values[~real] == -1).all()
        else:
            np.testing.assert_array_equal(values[real], expected[real])
            assert not values[~real].any()
    # identical logits: exactly zero KL and loss delta, equal entropies
    assert (got["kl"][0] == 0).all() and (got["loss_delta"][0] == 0).all()
    assert torch.equal(got["entropy_int"][0], got["entropy_orig"][0]) and got["agree"][0].all()
    assert (got["kl"][mask[:, 1:]] >= 0).all()


def test_summarize_means_over_real_positions_and_both_readings_of_retained() -> None:
    lo, li, ids, mask = random_case(3)
    got = summarize(token_metrics(lo, li, ids[:, 1:], mask[:, 1:]), mask[:, 1:])
    want = reference(lo.numpy(), li.numpy(), ids[:, 1:].numpy())
    real = mask[:, 1:].numpy()
    assert got["n_tokens"] == real.sum()
    for key in metrics.FLOAT_METRICS:
        assert got[key] == pytest.approx(want[key][real].mean(), rel=1e-10)
    assert got["top1_agreement"] == pytest.approx(want["agree"][real].mean())
    acc_orig, acc_int = want["correct_orig"][real].mean(), want["correct_int"][real].mean()
    assert acc_orig > 0
    assert got["acc_orig"] == pytest.approx(acc_orig) and got["acc_int"] == pytest.approx(acc_int)
    assert got["acc_retained"] == pytest.approx(acc_int / acc_orig)


def test_accuracy_retained_is_nan_when_the_original_is_never_right() -> None:
    lo = torch.zeros(1, 3, 4, dtype=torch.float64)
    lo[..., 0] = 5.0  # always predicts token 0
    ids = torch.tensor([[0, 1, 2]])
    mask = torch.ones(1, 2, dtype=torch.bool)
    got = summarize(token_metrics(lo, lo, ids[:, 1:], mask), mask)
    assert got["acc_orig"] == 0 and math.isnan(got["acc_retained"])


def test_grid_metrics_need_their_mask_so_that_padding_does_not_count() -> None:
    lo = torch.randn(2, 4, 6, dtype=torch.float64)
    ids = torch.tensor([[0, 1, 2, 3], [0, 4, 0, 0]])
    mask = torch.tensor([[True, True, True], [True, False, False]])  # the second row is padded
    grid = token_metrics(lo, lo.flip(-1), ids[:, 1:], mask)
    with pytest.raises(ShapeError, match=r"pass the same target_mask"):
        summarize(grid)
    with pytest.raises(ShapeError, match=r"target_mask has shape \(2, 2\)"):
        summarize(grid, mask[:, :2])
    assert summarize(grid, mask)["n_tokens"] == 4


def test_the_sign_of_loss_delta_is_positive_when_the_intervention_hurts() -> None:
    lo = torch.zeros(1, 2, 3, dtype=torch.float64)
    lo[0, 0, 1] = 4.0  # the original is confident in the true token 1
    li = torch.zeros(1, 2, 3, dtype=torch.float64)  # the intervened model is uniform
    got = token_metrics(lo, li, torch.tensor([[1]]), torch.tensor([[True]]))
    assert got["loss_delta"].item() > 0
    assert got["loss_int"].item() == pytest.approx(math.log(3))
    assert got["entropy_int"].item() == pytest.approx(math.log2(3))


def test_infinite_logits_use_the_safe_formulas() -> None:
    lo = torch.tensor([[[2.0, 1.0, -math.inf], [0.0, 0.0, 0.0]]], dtype=torch.float64)
    li = torch.tensor([[[2.0, -math.inf, 0.5], [0.0, 0.0, 0.0]]], dtype=torch.float64)
    got = token_metrics(lo, li, torch.tensor([[0]]), torch.tensor([[True]]))
    assert got["kl"].item() == math.inf  # P puts mass where Q has none
    assert math.isfinite(got["entropy_orig"].item()) and math.isfinite(got["loss_int"].item())
    back = token_metrics(li, lo, torch.tensor([[0]]), torch.tensor([[True]]))
    assert back["kl"].item() == math.inf


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_top1_takes_the_first_maximum_on_ties(dtype: torch.dtype) -> None:
    # float32/64 take numpy's argmax on CPU, bfloat16 torch's: both must pick the first maximum
    lo = torch.tensor([[[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [0.0, 0.0, 1.0, 0.0]]])
    li = torch.tensor([[[5.0, 5.0, 1.0, 0.0], [0.0, 4.0, 0.0, 4.0], [1.0, 0.0, 1.0, 0.0]]])
    targets = torch.tensor([[1, 3]])
    got = token_metrics(lo.to(dtype), li.to(dtype), targets, torch.ones(1, 2, dtype=torch.bool))
    assert got["top1_orig"].tolist() == [[1, 0]]
    assert got["top1_int"].tolist() == [[0, 1]]
    assert got["correct_orig"].tolist() == [[True, False]]
    assert got["agree"].tolist() == [[False, False]]


def test_chunked_and_unchunked_give_the_same_values(monkeypatch: pytest.MonkeyPatch) -> None:
    lo, li, ids, mask = random_case(4, b=4, t=12, v=50)
    whole = token_metrics(lo.float(), li.float(), ids[:, 1:], mask[:, 1:])
    monkeypatch.setattr(metrics, "_CHUNK_ELEMENTS", 60)  # one row per chunk
    monkeypatch.setattr(metrics, "_PROBS_BYTES", 0)  # recompute P instead of keeping it
    chunked = token_metrics(lo.float(), li.float(), ids[:, 1:], mask[:, 1:])
    for key in whole:
        torch.testing.assert_close(chunked[key], whole[key], equal_nan=True, rtol=0, atol=1e-12)


def test_uneven_chunks_reuse_their_buffers_without_leaking_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Chunks of 4 rows over 18 real positions: the last chunk fills only part of the reused
    buffers, and every row still matches the textbook formulas."""
    lo, li, ids, mask = random_case(6, b=3, t=12, v=41)
    monkeypatch.setattr(metrics, "_CHUNK_ELEMENTS", 4 * 41)
    assert int(mask[:, 1:].sum()) % 4 != 0
    got = token_metrics(lo.float(), li.float(), ids[:, 1:], mask[:, 1:])
    want = reference(lo.float().double().numpy(), li.float().double().numpy(), ids[:, 1:].numpy())
    real = mask[:, 1:].numpy()
    for key in ("kl", "loss_int", "entropy_int", "top1_int"):
        np.testing.assert_allclose(got[key].numpy()[real], want[key][real], rtol=1e-9, atol=1e-12)


def test_token_frame_rows_sit_on_the_prediction_grid() -> None:
    lo, li, ids, mask = random_case(5)
    batch = TokenBatch(ids, mask, ("a", "b", "c"))
    base = baseline(lo, batch.targets, batch.target_mask)
    flat = compare(base, li)
    frame = token_frame(base, flat, batch, model="m", intervention="delete-L0", layers="0")
    assert list(frame.columns) == [
        "model", "intervention", "layers", "doc_id", "pos", "target_index", "target_id",
        "top1_orig_id", "top1_int_id", "loss_orig", "loss_int", "kl", "H_orig", "H_int",
    ]  # fmt: skip
    assert len(frame) == int(batch.target_mask.sum())
    grid = token_metrics(lo, li, batch.targets, batch.target_mask)
    for row in frame.itertuples():
        b = "abc".index(row.doc_id)
        assert row.target_id == ids[b, row.pos + 1]  # position pos predicts token pos + 1
        assert row.target_index == row.pos  # every row starts its document here
        assert row.kl == grid["kl"][b, row.pos].item()
        assert row.loss_orig == grid["loss_orig"][b, row.pos].item()
        assert row.top1_int_id == grid["top1_int"][b, row.pos].item()


def test_shapes_are_checked() -> None:
    lo, li, ids, mask = random_case(6)
    with pytest.raises(ShapeError, match=r"\[batch, seq - 1\] = \(3, 8\)"):
        token_metrics(lo, li, ids, mask)
    with pytest.raises(ShapeError, match=r"do not match the original"):
        token_metrics(lo, li[:, :-1], ids[:, 1:], mask[:, 1:])
    with pytest.raises(ShapeError, match=r"must be \[batch, seq, vocab\]"):
        token_metrics(lo[0], li[0], ids[:, 1:], mask[:, 1:])

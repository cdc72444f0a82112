import numpy as np
import pytest
import torch
from robustness_helpers import boot, toy_corpus
from stages_fixtures import spiky_dir, varied_tokens

from interplab.core.errors import ConfigError, ShapeError
from interplab.robustness.stages import linear_cka, residual_cka
from interplab.robustness.stages.cka import unbiased_hsic_matrix
from interplab.robustness.tokens import load_tokens

pytestmark = pytest.mark.usefixtures("no_grad_one_thread")


def u_centre(k):
    """Székely & Rizzo's U-centring of a Gram matrix (diagonal ignored, result diagonal 0)."""
    n = len(k)
    k = k.copy()
    np.fill_diagonal(k, 0.0)
    row = k.sum(1, keepdims=True) / (n - 2)
    total = k.sum() / ((n - 1) * (n - 2))
    u = k - row - row.T + total
    np.fill_diagonal(u, 0.0)
    return u


def hsic_u(x, y):
    """Unbiased HSIC as the U-centred inner product <Ũ(K), Ũ(L)> / (n (n − 3))."""
    n = len(x)
    return float((u_centre(x @ x.T) * u_centre(y @ y.T)).sum() / (n * (n - 3)))


def hsic_song(x, y):
    """Song et al. 2012 / Nguyen et al. 2020 eq. 3, written out with explicit matrices."""
    n = len(x)
    k, l_ = x @ x.T, y @ y.T
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l_, 0.0)
    one = np.ones(n)
    return float(
        (np.trace(k @ l_) + (one @ k @ one) * (one @ l_ @ one) / ((n - 1) * (n - 2))
         - 2.0 / (n - 2) * one @ k @ l_ @ one) / (n * (n - 3))
    )  # fmt: skip


def test_hsic_matrix_matches_two_independent_formulas():
    rng = np.random.default_rng(0)
    feats = [rng.normal(size=(9, 5)) for _ in range(3)]
    feats[1] = feats[0] @ rng.normal(size=(5, 5)) + 0.3 * feats[1]
    mine = unbiased_hsic_matrix(torch.tensor(np.stack(feats)))
    for i in range(3):
        for j in range(3):
            assert float(mine[i, j]) == pytest.approx(hsic_u(feats[i], feats[j]), rel=1e-10)
            assert float(mine[i, j]) == pytest.approx(hsic_song(feats[i], feats[j]), rel=1e-10)


def test_cka_is_invariant_to_rotation_and_isotropic_scaling_but_not_to_anisotropic():
    rng = np.random.default_rng(1)
    docs = []
    for n in (6, 11, 8):
        a = rng.normal(size=(n, 7))
        docs.append([torch.tensor(a), torch.tensor(np.tanh(a @ rng.normal(size=(7, 4)))),
                     torch.tensor(rng.normal(size=(n, 3)))])  # fmt: skip
    base = linear_cka(docs)
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    moved = [[d[0], d[1] @ torch.tensor(q) * 3.7, d[2]] for d in docs]
    np.testing.assert_allclose(linear_cka(moved), base, rtol=1e-10)
    stretched = [[d[0], d[1] * torch.tensor([5.0, 1.0, 1.0, 0.2]), d[2]] for d in docs]
    assert np.abs(linear_cka(stretched) - base).max() > 1e-3
    np.testing.assert_allclose(np.diag(base), 1.0)
    np.testing.assert_allclose(base, base.T)


@pytest.fixture(scope="module", params=["gpt2", "neox"])
def model(request, tmp_path_factory):
    return boot(spiky_dir(tmp_path_factory, request.param))


def test_residual_cka_matches_numpy_over_documents(model):
    tokens = varied_tokens(model)
    result = residual_cka(model, tokens)
    n_layers = model.cfg.n_layers
    names = ["blocks.0.hook_resid_pre"] + [f"blocks.{i}.hook_resid_post" for i in range(n_layers)]
    total = np.zeros((n_layers + 1, n_layers + 1))
    for batch in tokens:
        _, cache = model.run_with_cache(batch.ids)
        for row in range(len(batch)):
            n = int(batch.mask[row].sum())
            feats = [cache[name][row, 1:n].double().numpy() for name in names]  # BOS left out
            total += [[hsic_u(a, b) for b in feats] for a in feats]
    expected = total / np.sqrt(np.outer(np.diag(total), np.diag(total)))
    np.testing.assert_allclose(result.matrix, expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(np.diag(result.matrix), 1.0, rtol=1e-12)
    np.testing.assert_allclose(result.matrix, result.matrix.T, rtol=1e-12)
    assert result.labels == ("embed", "L0", "L1", "L2", "L3") and result.n_docs == 7
    assert result.matrix.min() < 0.99  # layers are not all alike


def test_padding_and_batching_do_not_change_cka(model):
    docs = [d[: 12 + 17 * i] for i, d in enumerate(toy_corpus(7))]
    batched = residual_cka(model, varied_tokens(model))
    alone = residual_cka(model, load_tokens(docs, model, token_budget=10_000, seq_len=48,
                                            batch_size=1))  # fmt: skip
    np.testing.assert_allclose(batched.matrix, alone.matrix, rtol=1e-6)
    with_bos = residual_cka(model, varied_tokens(model), include_bos=True)
    assert np.abs(with_bos.matrix - batched.matrix).max() > 1e-4


def test_short_inputs_get_clear_errors(model):
    short = load_tokens(["a b", "c"], model, token_budget=100, seq_len=3, batch_size=2)
    with pytest.raises(ConfigError, match=r"fewer than 4 usable tokens"):
        residual_cka(model, short)
    with pytest.raises(ShapeError, match=r"n >= 4 items; got n=3"):
        unbiased_hsic_matrix(torch.zeros(2, 3, 5))
    with pytest.raises(ShapeError, match=r"\[entries, n, d\]"):
        unbiased_hsic_matrix(torch.zeros(3, 5))

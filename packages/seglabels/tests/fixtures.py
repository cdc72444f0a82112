"""The differential-test fixture generator (interplab's own; its RNG call order defines the values).

The reference values in the tests (softmin scores, flagged-pixel counts) were computed with
cleanlab 2.9.0 on exactly these arrays.
"""

import numpy as np


def make_dataset(n=100, k=10, h=256, w=256, err_frac=0.1, seed=0, dtype=np.float32, patch=None):
    rng = np.random.default_rng(seed)
    r32, r16 = max(2, 32 * h // 256), max(1, 16 * h // 256)
    pz = max(2, 48 * h // 256) if patch is None else patch
    true = np.zeros((n, h, w), dtype=np.int64)
    for i in range(n):
        true[i] = rng.integers(0, k)
        for _ in range(6):
            y0, x0 = rng.integers(0, h - r32), rng.integers(0, w - r32)
            hh, ww = rng.integers(r16, h // 2), rng.integers(r16, w // 2)
            true[i, y0 : y0 + hh, x0 : x0 + ww] = rng.integers(0, k)
    logits = rng.normal(0.0, 1.0, size=(n, k, h, w)).astype(np.float32)
    np.put_along_axis(
        logits, true[:, None], np.take_along_axis(logits, true[:, None], 1) + 4.0, axis=1
    )
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    labels, is_err = true.copy(), np.zeros(n, dtype=bool)
    for i in rng.choice(n, size=round(err_frac * n), replace=False):
        y0, x0 = rng.integers(0, h - pz), rng.integers(0, w - pz)
        labels[i, y0 : y0 + pz, x0 : x0 + pz] = (
            labels[i, y0 : y0 + pz, x0 : x0 + pz] + rng.integers(1, k)
        ) % k
        is_err[i] = True
    return labels, p.astype(dtype), is_err

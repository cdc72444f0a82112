"""Function-preserving simplification of a trained RNN ("normalizers" and L1, ``mips.md`` §7).

The default chain (:func:`simplify_rnn`) is whiten → Jordan form → Toeplitz → de-bias →
quantize; an L1 sweep (``l1``) can be put first. Every step but quantize and l1 is a change of
basis of the hidden space, ``h → M h``: ``M`` is folded into the write layer (``f``'s last
layer) and ``M⁻¹`` into the read weights (the hidden columns of ``f``'s first layer and ``g``'s
first layer), so the network computes the same function up to float rounding. Each step is
checked: if the rounded outputs change on the check data, the step is undone and the reason
recorded.

- **whiten** (:mod:`.basis`): ``C = E[h hᵀ]`` over the observed hidden states (not
  mean-centred), ``M = C^{-1/2}`` on the directions with non-negligible variance.
- **jordan** (:mod:`.forms`): for a linear recurrence ``W`` (``f`` of depth 1): a real
  diagonalisation (complex pairs as 2×2 rotation-scaling blocks) with each mode scaled so the
  input writes 1 into it; or, when all eigenvalues are within 0.7 of each other (shifts,
  integrators), the Jordan chain ``(W - λI)^k u`` of the input vector ``u``, which makes
  ``W ≈ λI + N`` with ``N`` the shift; or the companion (Krylov) form ``u, W u, W² u, …``, whose
  last column holds the characteristic polynomial (integers for integer recurrences, complex
  eigenvalues included). Whichever leaves ``W`` and ``U`` closest to integers is kept.
- **toeplitz** (:mod:`.forms`): only when ``W`` is already in real Jordan form; per block, the
  upper-triangular Toeplitz matrix of the input channel that feeds the block's last coordinate
  most strongly. It commutes with the block, so ``W`` is unchanged and that input writes a unit
  vector. Kept only if it also leaves the weights no less integral.
- **debias** (:mod:`.basis`): drop the part of the write bias that no read weight sees (null
  space of the read matrix).
- **quantize** (:mod:`.quantize`): snap every weight within ``tol`` of an integer to that
  integer, with the largest of ``tol`` = 0.2, 0.1, 0.02 that keeps the network exact. When
  snapping alone changes the outputs of a linear recurrence and training data is given, the
  snapped weights are frozen and the others retrained briefly (the paper's "retraining with
  zeros frozen", extended to every snapped integer; :mod:`.retrain`).
- **l1** (:mod:`.l1`, not in the default chain): fine-tune on ``loss + ε·Σ|θ|`` over the paper's
  ε grid, keep the largest ε still exact (or the one two steps smaller if its loss is lower),
  then zero the tiny weights and retrain with the zeros frozen.
"""

from __future__ import annotations

from .basis import change_basis as change_basis
from .basis import debias as debias
from .basis import integrality as integrality
from .basis import whiten as whiten
from .chain import DEFAULT_STEPS as DEFAULT_STEPS
from .chain import STEPS as STEPS
from .chain import SimplifyStep as SimplifyStep
from .chain import check_steps as check_steps
from .chain import simplify_rnn as simplify_rnn
from .forms import JordanBlock as JordanBlock
from .forms import companion_basis as companion_basis
from .forms import integer_basis as integer_basis
from .forms import jordan_basis as jordan_basis
from .forms import jordan_blocks as jordan_blocks
from .forms import toeplitz_basis as toeplitz_basis
from .l1 import EPSILONS as EPSILONS
from .l1 import EpsilonRun as EpsilonRun
from .l1 import L1Result as L1Result
from .l1 import l1_finetune as l1_finetune
from .l1 import l1_norm as l1_norm
from .l1 import prune_and_retrain as prune_and_retrain
from .l1 import select_epsilon as select_epsilon
from .quantize import quantize as quantize
from .quantize import quantize_and_retrain as quantize_and_retrain
from .retrain import retrain_free as retrain_free

__all__ = [
    "DEFAULT_STEPS",
    "EPSILONS",
    "STEPS",
    "EpsilonRun",
    "JordanBlock",
    "L1Result",
    "SimplifyStep",
    "change_basis",
    "check_steps",
    "companion_basis",
    "debias",
    "integer_basis",
    "integrality",
    "jordan_basis",
    "jordan_blocks",
    "l1_finetune",
    "l1_norm",
    "prune_and_retrain",
    "quantize",
    "quantize_and_retrain",
    "retrain_free",
    "select_epsilon",
    "simplify_rnn",
    "toeplitz_basis",
    "whiten",
]

"""Spec builders shared by the task table in :mod:`._catalog`.

Families (Base_k_Addition, Parity_Lastk, Sum_Lastk, Prevk, Majority_0_k, Div_k, Add_Mod_k)
share their JSON text through these templates; the defaults are the JSON's common values.
"""

from __future__ import annotations

from ._spec import TaskSpec

__all__ = [
    "NEWTON_START",
    "PREVIOUS_IS_ZERO",
    "ZERO_PAST",
    "add_mod",
    "base_addition",
    "bits",
    "bitwise",
    "div",
    "integers",
    "liao",
    "majority",
    "newton",
    "parity_last",
    "prev",
    "spec",
    "sum_last",
]

_IID = "i.i.d. uniform over the alphabet at every position"
ZERO_PAST = "positions before 0 count as 0"
PREVIOUS_IS_ZERO = "x_(-1) treated as 0"
NEWTON_START = "position and velocity start at 0"


def spec(
    index: int,
    name: str,
    repo: str,
    description: str,
    rule: str,
    boundary: str | None,
    *,
    element: str,
    lo: int,
    hi: int,
    out_type: str,
    out_range: tuple[int, int] | None,
    solved: tuple[bool, bool],
    hidden: int | None,
    dims: int = 1,
    out_dims: int = 1,
    seq_len: int = 10,
    dtypes: tuple[str, str] = ("int8", "int8"),
    is_liao: bool = False,
    out_note: str | None = None,
    distribution: str = _IID,
    is_deduplicated: bool = False,
) -> TaskSpec:
    """One spec; ``is_liao`` marks Isaac Liao's tasks (0.8 train, int32, (L, d) layouts)."""
    x_shape: tuple[int, ...]
    y_shape: tuple[int, ...]
    if is_liao:
        x_shape, y_shape = (seq_len, dims), (seq_len, out_dims)
    else:
        x_shape = (seq_len, dims) if dims > 1 else (seq_len,)
        y_shape = (seq_len, out_dims) if out_dims > 1 else (seq_len,)
    return TaskSpec(
        index=index,
        name=name,
        repo_task_dir=f"tasks/{repo}",
        description=description,
        rule_text=rule,
        boundary_convention=boundary,
        input_element_type=element,
        input_dims=dims,
        input_min=lo,
        input_max=hi,
        distribution=distribution,
        seq_len=seq_len,
        output_dims=out_dims,
        output_type=out_type,
        output_range=out_range,
        output_note=out_note,
        n_sequences=1_000_000,
        is_deduplicated=is_deduplicated,
        train_fraction=0.8 if is_liao else 0.9,
        seed=42,
        x_dtype="int32" if is_liao else dtypes[0],
        y_dtype="int32" if is_liao else dtypes[1],
        x_shape=x_shape,
        y_shape=y_shape,
        mips_solved=solved[0],
        gpt4_solved=solved[1],
        pipeline_branch_hidden_dim=hidden,
    )


def base_addition(index: int, k: int, solved: tuple[bool, bool], hidden: int | None) -> TaskSpec:
    """Binary_Addition (k = 2) or Base_k_Addition."""
    return spec(
        index,
        "Binary_Addition" if k == 2 else f"Base_{k}_Addition",
        "bit_addition" if k == 2 else f"rnn_base_{k}_addition",
        f"Add two base-{k} numbers given digit-by-digit, least-significant digit first, "
        "emitting the sum digit at each step.",
        f"Let (a_t, b_t) be the input pair at step t and c_0 = 0. s_t = a_t + b_t + c_t; "
        f"y_t = s_t mod {k}; c_(t+1) = floor(s_t / {k}). Digits are least-significant first; "
        "the carry out of the last position is discarded (output has exactly L digits).",
        "carry starts at 0; final carry dropped",
        element=f"pair of base-{k} digits",
        dims=2,
        lo=0,
        hi=k - 1,
        out_type=f"base-{k} digit",
        out_range=(0, k - 1),
        solved=solved,
        hidden=hidden,
    )


def bitwise(index: int, op: str, hidden: int) -> TaskSpec:
    """Bitwise_Xor, Bitwise_Or or Bitwise_And (``op`` in lower case)."""
    return spec(
        index,
        f"Bitwise_{op.capitalize()}",
        f"rnn_bitwise_{op}",
        f"Per-position {op.upper()} of two bit streams.",
        f"y_t = a_t {op.upper()} b_t (no memory).",
        None,
        element="pair of bits",
        dims=2,
        lo=0,
        hi=1,
        out_type="bit",
        out_range=(0, 1),
        solved=(True, True),
        hidden=hidden,
    )


def bits(
    index: int,
    name: str,
    repo: str,
    description: str,
    rule: str,
    boundary: str | None,
    solved: tuple[bool, bool],
    hidden: int | None,
    distribution: str = _IID,
) -> TaskSpec:
    """A one-stream bit task with bit outputs (int8, length 10)."""
    return spec(
        index,
        name,
        repo,
        description,
        rule,
        boundary,
        element="bit",
        lo=0,
        hi=1,
        out_type="bit",
        out_range=(0, 1),
        solved=solved,
        hidden=hidden,
        distribution=distribution,
    )


def parity_last(index: int, k: int, solved: tuple[bool, bool], hidden: int | None) -> TaskSpec:
    """Parity_Lastk."""
    return bits(
        index,
        f"Parity_Last{k}",
        f"rnn_parity_last{k}_numerical",
        f"Parity (XOR) of the most recent {k} bits, including the current one.",
        f"y_t = (x_(t-{k - 1}) + ... + x_t) mod 2, where the window is truncated at the start "
        "of the sequence (equivalently, bits before position 0 are 0).",
        ZERO_PAST,
        solved,
        hidden,
    )


def integers(
    index: int,
    name: str,
    repo: str,
    description: str,
    rule: str,
    boundary: str | None,
    out_range: tuple[int, int],
    solved: tuple[bool, bool],
    hidden: int | None,
    *,
    lo: int = 0,
    hi: int = 99,
    element: str = "integer",
    out_type: str = "integer",
    dtypes: tuple[str, str] = ("int16", "int16"),
    seq_len: int = 10,
) -> TaskSpec:
    """A one-stream integer task (0..99 and int16 unless told)."""
    return spec(
        index,
        name,
        repo,
        description,
        rule,
        boundary,
        element=element,
        lo=lo,
        hi=hi,
        out_type=out_type,
        out_range=out_range,
        solved=solved,
        hidden=hidden,
        dtypes=dtypes,
        seq_len=seq_len,
    )


def sum_last(index: int, k: int, gpt4: bool) -> TaskSpec:
    """Sum_Lastk (length 20 from k = 5 on)."""
    return integers(
        index,
        f"Sum_Last{k}",
        f"rnn_sum_last{k}_numerical",
        f"Sum of the most recent {k} integers, including the current one.",
        f"y_t = sum of x_i for max(0, t-{k - 1}) <= i <= t (window truncated at the sequence "
        "start; equivalently x_i = 0 for i < 0).",
        ZERO_PAST,
        (0, 99 * k),
        (True, gpt4),
        k,
        seq_len=20 if k >= 5 else 10,
    )


def prev(index: int, k: int) -> TaskSpec:
    """Prevk (length 20 for k = 5); the pipeline model had k + 1 hidden units."""
    return integers(
        index,
        f"Prev{k}",
        f"rnn_prev{k}_numerical",
        f"Output the integer that appeared {k} step(s) earlier.",
        f"y_t = x_(t-{k}) if t >= {k}, else 0.",
        f"first {k} outputs are 0",
        (0, 99),
        (True, True),
        k + 1,
        dtypes=("int8", "int8"),
        seq_len=20 if k >= 5 else 10,
    )


def majority(index: int, k: int, gpt4: bool, hidden: int | None) -> TaskSpec:
    """Majority_0_k."""
    return integers(
        index,
        f"Majority_0_{k}",
        f"rnn_majority0_{k}_numerical",
        f"Running mode (most frequent symbol so far) over the alphabet 0..{k}, ties broken "
        "toward the smaller symbol.",
        "Let c_t(v) = number of i <= t with x_i = v. y_t = the smallest v (among symbols "
        "already seen) with c_t(v) = max_u c_t(u).",
        None,
        (0, k),
        (False, gpt4),
        hidden,
        hi=k,
        element="small integer",
        dtypes=("int8", "int8"),
    )


def liao(
    index: int,
    name: str,
    repo: str,
    description: str,
    rule: str,
    boundary: str | None,
    solved: tuple[bool, bool],
    hidden: int | None,
    *,
    element: str,
    lo: int,
    hi: int,
    out_type: str,
    out_range: tuple[int, int] | None,
    out_note: str | None = None,
    dims: int = 1,
) -> TaskSpec:
    """One of Isaac Liao's tasks: int32, (L, d) layouts, 0.8 train fraction."""
    return spec(
        index,
        name,
        repo,
        description,
        rule,
        boundary,
        element=element,
        lo=lo,
        hi=hi,
        out_type=out_type,
        out_range=out_range,
        out_note=out_note,
        solved=solved,
        hidden=hidden,
        dims=dims,
        out_dims=dims,
        is_liao=True,
    )


def div(index: int, k: int, gpt4: bool, hidden: int | None) -> TaskSpec:
    """Div_k (binary long division, MSB first)."""
    return liao(
        index,
        f"Div_{k}",
        f"rnn_div_{k}_numerical",
        f"Binary long division by {k}: emit quotient bits while reading dividend bits "
        "most-significant first.",
        f"r_(-1) = 0; v_t = 2*r_(t-1) + x_t; y_t = floor(v_t / {k}); r_t = v_t mod {k}. "
        "Reading the inputs as an L-bit number N (first bit most significant), the outputs are "
        f"the L bits of floor(N/{k}) in the same order.",
        "remainder starts at 0. Note: the repo's docstring says 'reverse order', but the "
        "generator processes the most significant bit first",
        (False, gpt4),
        hidden,
        element="bit",
        lo=0,
        hi=1,
        out_type="bit",
        out_range=(0, 1),
    )


def add_mod(index: int, k: int, solved: tuple[bool, bool], hidden: int | None) -> TaskSpec:
    """Add_Mod_k."""
    return liao(
        index,
        f"Add_Mod_{k}",
        f"rnn_add_mod_{k}_numerical",
        f"Running sum modulo {k}.",
        f"y_t = (x_0 + ... + x_t) mod {k}.",
        None,
        solved,
        hidden,
        element="small integer",
        lo=0,
        hi=k - 1,
        out_type="integer",
        out_range=(0, k - 1),
    )


def newton(
    index: int, name: str, description: str, rule: str, boundary: str, note: str
) -> TaskSpec:
    """Newton_Freebody, _Gravity or _Spring (one input stream, no output range)."""
    return liao(
        index,
        f"Newton_{name}",
        f"rnn_newton_{name.lower()}_numerical",
        description,
        rule,
        boundary,
        (True, False),
        2,
        element="integer",
        lo=-10,
        hi=10,
        out_type="integer",
        out_range=None,
        out_note=note,
    )

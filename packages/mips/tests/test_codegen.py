"""Program emission: readable source, tables, pruning, naming, and loading."""

from __future__ import annotations

import ast

import numpy as np
import pytest

from interplab.mips.codegen import ProgramSpec, Table, emit_program, load_program, name_states
from interplab.mips.regress import Const, Op, Var
from interplab.mips.sequences import as_sequences
from interplab.mips.tasks import get_task
from interplab.mips.verify import run_program

ADDER = ProgramSpec(
    input_names=("a", "b"),
    state_names=("carry",),
    initial_state=(0,),
    next_state=(Op("lt", (Const(1), Op("add", (Op("add", (Var(0), Var(1))), Var(2))))),),
    outputs=(Op("xor", (Op("xor", (Var(0), Var(1))), Var(2))),),
    is_moore=False,
    title="Ripple-carry adder.",
)


def test_emitted_adder_equals_the_task_rule_on_every_input_of_length_6() -> None:
    task = get_task("Binary_Addition")
    source = emit_program(ADDER)
    program = load_program(source)
    inputs = np.concatenate(list(task.enumerate_inputs(length=6)))
    expected = as_sequences(task.compute_outputs(inputs))
    assert len(inputs) == 4**6
    assert np.array_equal(run_program(program, as_sequences(inputs), 1), expected)
    assert program([(1, 1), (0, 1), (0, 0)]) == task.rule([(1, 1), (0, 1), (0, 0)])


def test_source_is_plain_python_without_imports() -> None:
    source = emit_program(ADDER)
    tree = ast.parse(source)
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert "def program(seq):" in source
    assert "carry = 0" in source
    assert "y = a ^ b ^ carry" in source or "y = carry ^ a ^ b" in source
    assert "carry = int(carry + a + b > 1)" in source


def test_table_programs_print_a_transition_table() -> None:
    # Divisibility by 3 of a binary number read MSB first: remainder machine as a table.
    table = {(r, x): (2 * r + x) % 3 for r in range(3) for x in (0, 1)}
    outputs = {(r, x): (2 * r + x) // 3 for r in range(3) for x in (0, 1)}
    spec = ProgramSpec(
        input_names=("x",), state_names=("state",), initial_state=(0,),
        next_state=(Table("NEXT_STATE", (0, 1), table),),
        outputs=(Table("OUTPUT", (0, 1), outputs),), is_moore=False,
    )  # fmt: skip
    source = emit_program(spec)
    assert "NEXT_STATE = {" in source and "NEXT_STATE[state, x]" in source
    program = load_program(source)
    task = get_task("Div_3")
    for bits in ([1, 0, 0, 1, 1, 0], [1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1]):
        assert program(bits) == task.rule(bits)


def test_state_that_no_output_needs_is_dropped() -> None:
    spec = ProgramSpec(
        input_names=("x",), state_names=("s0", "s1"), initial_state=(0, 5),
        next_state=(Op("add", (Var(0), Var(2))), Op("mul", (Var(1), Const(2)))),
        outputs=(Var(0),), is_moore=True,
    )  # fmt: skip
    source = emit_program(spec)
    assert "s1" not in source
    assert load_program(source)([1, 2, 3]) == [1, 3, 6]


def test_name_states_names_delay_lines_and_totals() -> None:
    spec = ProgramSpec(
        input_names=("x",), state_names=("s0", "s1", "s2"), initial_state=(0, 0, 0),
        next_state=(Var(3), Var(0), Op("add", (Var(2), Var(3)))),
        outputs=(Op("add", (Var(1), Var(2))),), is_moore=True,
    )  # fmt: skip
    assert name_states(spec).state_names == ("last_x", "last_x2", "total")
    program = load_program(emit_program(name_states(spec)))
    assert program([1, 2, 3]) == [1, 4, 8]


def test_mealy_output_equal_to_the_update_is_printed_once() -> None:
    spec = ProgramSpec(
        input_names=("x",), state_names=("state",), initial_state=(0,),
        next_state=(Op("mod", (Op("add", (Var(0), Var(1))), Const(3))),),
        outputs=(Op("mod", (Op("add", (Var(0), Var(1))), Const(3))),), is_moore=False,
    )  # fmt: skip
    source = emit_program(spec)
    assert source.count("% 3") == 1 and "outputs.append(state)" in source
    assert load_program(source)([1, 2, 2, 0]) == [1, 0, 2, 2]


def test_load_program_refuses_source_without_program() -> None:
    with pytest.raises(ValueError, match="defines no callable program"):
        load_program("x = 1\n")

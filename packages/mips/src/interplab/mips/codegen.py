"""Emit a readable, standard-library-only Python program from regressed state updates.

A :class:`ProgramSpec` is a state machine written with named integer state variables: their
initial values, one update expression each (over the previous state and the current input), and
one expression per output component. Outputs read either the state *after* the update (Moore,
the RNN's ``y_t = g(h_t)``) or the state *before* it together with the input (Mealy, the
minimal form of a finite-state machine). An expression may be a :class:`Table` instead, printed
as a module-level dict (a transition table, never a list of training sequences).

:func:`emit_program` prints ``def program(seq)``; :func:`load_program` compiles that source into
a fresh module and returns the function.
"""

from __future__ import annotations

import keyword
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .regress.expr import Expr, Op, Var, render, variables_used

__all__ = ["ProgramSpec", "Table", "emit_program", "load_program", "name_states"]


@dataclass(frozen=True)
class Table:
    """A function given by its values: ``mapping[key]`` with ``key`` the values of ``columns``."""

    name: str
    """Module-level constant name, e.g. ``NEXT_STATE``."""
    columns: tuple[int, ...]
    """Variable indices forming the key (state variables first, then inputs)."""
    mapping: dict[tuple[int, ...], int]


Update = Expr | Table
"""How one state variable or output is computed."""


@dataclass(frozen=True)
class ProgramSpec:
    """A program as named state variables with update and output rules.

    Variables are numbered ``(*state_names, *input_names)``: ``Var(i)`` reads state variable
    ``i`` for ``i < len(state_names)``, else an input component.
    """

    input_names: tuple[str, ...]
    """Names of one input position's components, e.g. ``("x",)`` or ``("a", "b")``."""
    state_names: tuple[str, ...]
    initial_state: tuple[int, ...]
    next_state: tuple[Update, ...]
    """Per state variable, over the previous state and the current input."""
    outputs: tuple[Update, ...]
    """Per output component; over the new state (Moore) or the old state and input (Mealy)."""
    is_moore: bool
    title: str = "A program distilled from a trained RNN."
    notes: tuple[str, ...] = ()
    """Lines for the module docstring (route, network size, what the states are)."""
    state_comments: tuple[str, ...] = field(default=())
    """Optional comment per state variable, printed where it is initialised."""

    @property
    def variable_names(self) -> tuple[str, ...]:
        """``(*state_names, *input_names)``."""
        return (*self.state_names, *self.input_names)


def _uses(update: Update) -> set[int]:
    return set(update.columns) if isinstance(update, Table) else variables_used(update)


def _prune(spec: ProgramSpec) -> ProgramSpec:
    """Drop state variables that no output depends on, directly or through other states."""
    n = len(spec.state_names)
    needed: set[int] = set()
    frontier = {i for o in spec.outputs for i in _uses(o) if i < n}
    while frontier:
        i = frontier.pop()
        if i in needed:
            continue
        needed.add(i)
        frontier |= {j for j in _uses(spec.next_state[i]) if j < n} - needed
    keep = sorted(needed)
    if len(keep) == n:
        return spec
    remap = {old: new for new, old in enumerate(keep)}
    remap.update({n + k: len(keep) + k for k in range(len(spec.input_names))})

    def move(update: Update) -> Update:
        if isinstance(update, Table):
            return Table(update.name, tuple(remap[c] for c in update.columns), update.mapping)
        return _remap(update, remap)

    return replace(
        spec,
        state_names=tuple(spec.state_names[i] for i in keep),
        initial_state=tuple(spec.initial_state[i] for i in keep),
        next_state=tuple(move(spec.next_state[i]) for i in keep),
        outputs=tuple(move(o) for o in spec.outputs),
        state_comments=tuple(spec.state_comments[i] for i in keep) if spec.state_comments else (),
    )


def _remap(expr: Expr, remap: dict[int, int]) -> Expr:
    if isinstance(expr, Var):
        return Var(remap[expr.index])
    if isinstance(expr, Op):
        return Op(expr.name, tuple(_remap(a, remap) for a in expr.args))
    return expr


def name_states(spec: ProgramSpec) -> ProgramSpec:
    """Give state variables telling names where their update makes the role plain.

    ``last_x`` when the update copies the input (``last_x2`` for a copy of ``last_x``, and so
    on), ``total`` for ``s + (input-only expression)``; others keep their names.

    Args:
        spec: the program.

    Returns:
        The program with renamed state variables (names stay unique identifiers).
    """
    n = len(spec.state_names)
    names = list(spec.state_names)
    taken = set(names) | set(spec.input_names)

    def claim(i: int, wanted: str) -> None:
        if wanted in taken or not wanted.isidentifier() or keyword.iskeyword(wanted):
            return
        taken.discard(names[i])
        names[i] = wanted
        taken.add(wanted)

    for _ in range(n):
        for i, update in enumerate(spec.next_state):
            if isinstance(update, Var) and update.index >= n:
                claim(i, f"last_{spec.input_names[update.index - n]}")
            elif isinstance(update, Var) and names[update.index].startswith("last_"):
                base = names[update.index]
                stem = base.rstrip("0123456789")
                depth = int(base[len(stem) :] or 1) + 1
                claim(i, f"{stem}{depth}")
    for i, update in enumerate(spec.next_state):
        if (
            isinstance(update, Op)
            and update.name == "add"
            and update.args[0] == Var(i)
            and all(j >= n for j in _uses(update.args[1]))
            and not names[i].startswith("last_")
        ):
            claim(i, "total" if "total" not in taken else f"total{i}")
    return replace(spec, state_names=tuple(names))


def _render(update: Update, names: Sequence[str]) -> str:
    if isinstance(update, Table):
        key = ", ".join(names[c] for c in update.columns)
        return f"{update.name}[{key}]"
    return render(update, tuple(names))


def _table_source(table: Table, names: Sequence[str]) -> list[str]:
    key_names = ", ".join(names[c] for c in table.columns)
    lines = [f"# {table.name}[{key_names}]", f"{table.name} = {{"]
    rows: dict[tuple[int, ...], list[str]] = {}
    for key in sorted(table.mapping):
        shown = key if len(key) > 1 else key[0]
        rows.setdefault(key[:1], []).append(f"{shown}: {table.mapping[key]}")
    for items in rows.values():
        line = "    "
        for item in items:
            if len(line) + len(item) + 2 > 96 and line.strip():
                lines.append(line.rstrip())
                line = "    "
            line += item + ", "
        lines.append(line.rstrip())
    lines.append("}")
    return lines


def emit_program(spec: ProgramSpec) -> str:
    """Python source defining ``program(seq)`` for ``spec``.

    ``seq`` is a list of ints (one input component) or of tuples; the result is a list of ints
    (one output component) or of tuples. State variables no output depends on are dropped; a
    Mealy output equal to a state update is printed as that state after the update.

    Args:
        spec: the program.

    Returns:
        Module source: a docstring, any tables, and ``def program(seq)``; standard library only.
    """
    spec = _prune(spec)
    names = spec.variable_names
    n = len(spec.state_names)
    outputs = list(spec.outputs)
    is_moore = spec.is_moore
    if not is_moore and n and all(o in spec.next_state for o in outputs):
        outputs = [Var(spec.next_state.index(o)) for o in outputs]
        is_moore = True
    doc = [f'"""{spec.title}', "", *spec.notes, '"""', ""]
    lines = [line.rstrip() for line in doc]
    tables = [u for u in (*spec.next_state, *outputs) if isinstance(u, Table)]
    for table in dict((t.name, t) for t in tables).values():
        lines += [*_table_source(table, names), ""]
    lines += [
        "",
        "def program(seq):",
        '    """Map one input sequence to its outputs, one per position."""',
    ]
    for i, (name, value) in enumerate(zip(spec.state_names, spec.initial_state, strict=True)):
        comment = spec.state_comments[i] if i < len(spec.state_comments) else ""
        lines.append(f"    {name} = {value}" + (f"  # {comment}" if comment else ""))
    lines.append("    outputs = []")
    target = spec.input_names[0] if len(spec.input_names) == 1 else ", ".join(spec.input_names)
    lines.append(f"    for {target} in seq:")
    rendered_out = [_render(o, names) for o in outputs]
    output_text = rendered_out[0] if len(rendered_out) == 1 else f"({', '.join(rendered_out)})"
    if not is_moore and n:
        lines.append(f"        y = {output_text}")
    if n:
        left = ", ".join(spec.state_names)
        right = ", ".join(_render(u, names) for u in spec.next_state)
        lines.append(f"        {left} = {right}")
    lines.append(f"        outputs.append({'y' if not is_moore and n else output_text})")
    lines.append("    return outputs")
    return "\n".join(lines) + "\n"


def load_program(source: str, *, name: str = "mips_program") -> Callable[[list[Any]], list[Any]]:
    """Compile emitted source into a fresh module and return its ``program`` function.

    Args:
        source: text from :func:`emit_program` (or any module defining ``program``).
        name: module name (shown in tracebacks).

    Returns:
        The ``program`` callable.

    Raises:
        ValueError: the source defines no callable ``program``.
    """
    module = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)  # our own emitted source
    program = module.__dict__.get("program")
    if not callable(program):
        raise ValueError(f"the source of {name!r} defines no callable program(seq).")
    return program  # type: ignore[no-any-return]

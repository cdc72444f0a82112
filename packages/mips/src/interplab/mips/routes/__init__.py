"""From a trained RNN to a program spec, four ways (``mips.md`` §8–§10, plus a general FSM).

Each route reads discrete states off the network's hidden states and regresses how they change
and what they print:

- :func:`lattice_route`: integer lattice coordinates ``z`` (linear and GCD finders, lower
  description length first); ``z_t = F(z_{t-1}, x_t)`` and ``y_t = G(z_t)`` by the regressor
  chain over all transitions; the initial state is the integer vector that makes the first step
  agree with the data.
- :func:`window_route`: the hidden state is a function of the last ``k`` inputs; the program
  keeps them and regresses the output from them (delays, differences, patterns).
- :func:`bits_route`: k-means groups (2, 4, 8) made into a machine, states coded as bits, each
  bit and output a Boolean formula (the paper's bit finder; 0/1 inputs and outputs only).
- :func:`fsm_route`: the minimal machine whose states are hidden states that make the network
  behave alike (or cells of a grid); its states numbered a few ways
  (breadth-first, last output, position on a chain, all orders when few) and the first numbering
  whose transition and output both regress to formulas wins; otherwise the unexplained functions
  are printed as transition tables.

Shapes: ``N`` sequences, ``L`` positions, ``d_in`` / ``d_out`` integers per position, ``n``
hidden units.
"""

from ._common import RouteResult as RouteResult
from ._common import input_names as input_names
from .bits import bits_route as bits_route
from .fsm import fsm_route as fsm_route
from .fsm import machine_program as machine_program
from .fsm import read_machine as read_machine
from .lattice import lattice_route as lattice_route
from .window import window_route as window_route

__all__ = [
    "RouteResult",
    "bits_route",
    "fsm_route",
    "input_names",
    "lattice_route",
    "machine_program",
    "read_machine",
    "window_route",
]

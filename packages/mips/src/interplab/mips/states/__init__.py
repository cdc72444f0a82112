"""Discrete states read off hidden states: integer lattices, bits, finite-state machines.

- :mod:`~interplab.mips.states.lattice`: ``h = z A + b`` with integer ``z`` (linear and GCD
  finders, chosen by description length), for counters, sums and linear memories.
- :mod:`~interplab.mips.states.bits`: k-means groups coded as a few bits, for Boolean tasks.
- :mod:`~interplab.mips.states.window`: the last ``k`` inputs, when the state is a function of
  them (delays, differences, patterns).
- :mod:`~interplab.mips.states.fsm`: a minimal Mealy machine from states that behave alike (or
  a grid), for everything with finitely many states.
"""

from .bits import BitCoding as BitCoding
from .bits import bit_tables as bit_tables
from .bits import cluster_states as cluster_states
from .bits import find_bit_coding as find_bit_coding
from .fsm import StateMachine as StateMachine
from .fsm import extract_state_machine as extract_state_machine
from .fsm import extract_state_machine_by_behaviour as extract_state_machine_by_behaviour
from .fsm import machine_from_clusters as machine_from_clusters
from .fsm import machine_from_tables as machine_from_tables
from .fsm import minimize_machine as minimize_machine
from .fsm import state_numberings as state_numberings
from .lattice import Lattice as Lattice
from .lattice import find_lattice_gcd as find_lattice_gcd
from .lattice import find_lattice_linear as find_lattice_linear
from .lattice import lll_reduce as lll_reduce
from .lattice import select_lattice as select_lattice
from .window import find_window as find_window
from .window import window_keys as window_keys

__all__ = [
    "BitCoding",
    "Lattice",
    "StateMachine",
    "bit_tables",
    "cluster_states",
    "extract_state_machine",
    "extract_state_machine_by_behaviour",
    "find_bit_coding",
    "find_lattice_gcd",
    "find_lattice_linear",
    "find_window",
    "lll_reduce",
    "machine_from_clusters",
    "machine_from_tables",
    "minimize_machine",
    "select_lattice",
    "state_numberings",
    "window_keys",
]

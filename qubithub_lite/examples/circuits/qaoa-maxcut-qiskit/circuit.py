from math import pi

from qiskit import QuantumCircuit

EDGES = [(0, 1), (1, 2), (2, 3), (3, 0)]
GAMMA, BETA = 7 * pi / 8, pi / 8


def create_circuit():
    qc = QuantumCircuit(4, 4)
    qc.h(range(4))
    for a, b in EDGES:      # cost layer exp(-i gamma Z_a Z_b)
        qc.rzz(2 * GAMMA, a, b)
    qc.rx(2 * BETA, range(4))  # mixer layer
    qc.measure(range(4), range(4))
    return qc

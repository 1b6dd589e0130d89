import cirq
import numpy as np

EDGES = [(0, 1), (1, 2), (2, 3), (3, 0)]
GAMMA, BETA = 7 * np.pi / 8, np.pi / 8


def create_circuit():
    q = cirq.LineQubit.range(4)
    cost = [cirq.ZZPowGate(exponent=2 * GAMMA / np.pi, global_shift=-0.5).on(q[a], q[b]) for a, b in EDGES]
    mixer = [cirq.rx(2 * BETA).on(x) for x in q]
    return cirq.Circuit([cirq.H.on_each(*q), cost, mixer, cirq.measure(*q, key="m")])

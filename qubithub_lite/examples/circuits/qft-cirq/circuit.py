import cirq
import numpy as np

N_QUBITS = 3
VALUE = 5


def create_circuit():
    q = cirq.LineQubit.range(N_QUBITS)
    prepare = []
    for i, qubit in enumerate(q):  # Fourier basis state of VALUE
        prepare += [cirq.H(qubit), cirq.ZPowGate(exponent=2 * VALUE / 2 ** (N_QUBITS - i)).on(qubit)]
    inverse_qft = cirq.inverse(cirq.qft(*reversed(q), without_reverse=False))
    return cirq.Circuit(prepare + [inverse_qft, cirq.measure(*q, key="m")])

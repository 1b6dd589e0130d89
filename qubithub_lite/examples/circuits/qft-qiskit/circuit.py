from math import pi

from qiskit import QuantumCircuit

N_QUBITS = 3
VALUE = 5  # binary 101


def create_circuit():
    n = N_QUBITS
    qc = QuantumCircuit(n, n)
    # The Fourier basis state of VALUE: qubit q gets the phase 2*pi*VALUE/2^(n-q).
    for q in range(n):
        qc.h(q)
        qc.p(2 * pi * VALUE / 2 ** (n - q), q)
    # The inverse QFT (with the swaps that fix the bit order).
    for q in range(n // 2):
        qc.swap(q, n - 1 - q)
    for target in range(n):
        for control in range(target):
            qc.cp(-pi / 2 ** (target - control), control, target)
        qc.h(target)
    qc.measure(range(n), range(n))
    return qc

from qiskit import QuantumCircuit


def create_circuit():
    """Deutsch-Jozsa on 3 input qubits with the balanced oracle f(x) = x0 ^ x1 ^ x2."""
    qc = QuantumCircuit(4, 3)
    qc.x(3)
    qc.h(range(4))          # inputs in |+>, ancilla in |->
    for q in range(3):      # the oracle: phase (-1)^f(x)
        qc.cx(q, 3)
    qc.h(range(3))
    qc.measure(range(3), range(3))  # 000: constant; anything else: balanced
    return qc

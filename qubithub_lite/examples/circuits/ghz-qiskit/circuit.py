from qiskit import QuantumCircuit


def create_circuit(n=3):
    """(|0...0> + |1...1>)/sqrt(2) on n qubits."""
    qc = QuantumCircuit(n, n)
    qc.h(0)
    for q in range(n - 1):
        qc.cx(q, q + 1)
    qc.measure(range(n), range(n))
    return qc

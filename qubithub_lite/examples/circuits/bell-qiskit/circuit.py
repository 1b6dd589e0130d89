from qiskit import QuantumCircuit


def create_circuit():
    """(|00> + |11>)/sqrt(2)."""
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qc

from qiskit import QuantumCircuit


def create_circuit():
    """Teleport |1> from qubit 0 to qubit 2 (deferred-measurement form)."""
    qc = QuantumCircuit(3, 3)
    qc.x(0)                 # the state to send
    qc.h(1)                 # a Bell pair shared by qubits 1 and 2
    qc.cx(1, 2)
    qc.cx(0, 1)             # Bell measurement basis
    qc.h(0)
    qc.cx(1, 2)             # corrections, as controlled gates
    qc.cz(0, 2)
    qc.measure([0, 1, 2], [0, 1, 2])
    return qc

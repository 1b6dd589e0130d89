from qiskit import QuantumCircuit


def create_circuit():
    """One Grover iteration on two qubits, marked state |11>."""
    qc = QuantumCircuit(2, 2)
    qc.h([0, 1])
    qc.cz(0, 1)             # oracle: flip the phase of |11>
    qc.h([0, 1])            # diffuser: 2|s><s| - 1
    qc.x([0, 1])
    qc.cz(0, 1)
    qc.x([0, 1])
    qc.h([0, 1])
    qc.measure([0, 1], [0, 1])
    return qc

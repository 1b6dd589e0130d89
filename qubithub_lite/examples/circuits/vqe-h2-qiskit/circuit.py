from qiskit import QuantumCircuit


def create_circuit(theta=-0.4267):
    """The one-parameter H2 ansatz cos(theta/2)|01> + sin(theta/2)|10> (qubit 0 rightmost).

    -0.4267 minimises the energy; pass another theta as a run parameter to explore."""
    qc = QuantumCircuit(2, 2)
    qc.x(0)
    qc.ry(theta, 1)
    qc.cx(1, 0)
    qc.measure([0, 1], [0, 1])
    return qc

import pennylane as qml

dev = qml.device("default.qubit", wires=4)


@qml.qnode(dev)
def circuit():
    """Deutsch-Jozsa, balanced oracle f(x) = x0 ^ x1 ^ x2 (wire 3 is the ancilla)."""
    qml.PauliX(wires=3)
    for w in range(4):
        qml.Hadamard(wires=w)
    for w in range(3):
        qml.CNOT(wires=[w, 3])
    for w in range(3):
        qml.Hadamard(wires=w)
    return qml.counts(wires=[0, 1, 2])

import pennylane as qml

dev = qml.device("default.qubit", wires=3)


@qml.qnode(dev)
def circuit():
    """Teleport |1> from wire 0 to wire 2 (deferred-measurement form)."""
    qml.PauliX(wires=0)
    qml.Hadamard(wires=1)
    qml.CNOT(wires=[1, 2])
    qml.CNOT(wires=[0, 1])
    qml.Hadamard(wires=0)
    qml.CNOT(wires=[1, 2])
    qml.CZ(wires=[0, 2])
    return qml.counts()

import pennylane as qml

dev = qml.device("default.qubit", wires=2)


@qml.qnode(dev)
def circuit():
    """One Grover iteration, marked state |11>."""
    for w in (0, 1):
        qml.Hadamard(wires=w)
    qml.CZ(wires=[0, 1])
    for w in (0, 1):
        qml.Hadamard(wires=w)
        qml.PauliX(wires=w)
    qml.CZ(wires=[0, 1])
    for w in (0, 1):
        qml.PauliX(wires=w)
        qml.Hadamard(wires=w)
    return qml.counts()

import pennylane as qml

dev = qml.device("default.qubit", wires=2)


@qml.qnode(dev)
def circuit(theta=-0.4267):
    """The one-parameter H2 ansatz cos(theta/2)|01> + sin(theta/2)|10> (wire 0 rightmost)."""
    qml.PauliX(wires=0)
    qml.RY(theta, wires=1)
    qml.CNOT(wires=[1, 0])
    return qml.counts()

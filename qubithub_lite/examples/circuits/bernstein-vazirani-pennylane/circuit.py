import pennylane as qml

dev = qml.device("default.qubit", wires=4)


SECRET = "101"  # wire 0 is the rightmost character, as in Qiskit's bitstrings


@qml.qnode(dev)
def circuit():
    qml.PauliX(wires=3)
    for w in range(4):
        qml.Hadamard(wires=w)
    for w, bit in enumerate(reversed(SECRET)):
        if bit == "1":
            qml.CNOT(wires=[w, 3])
    for w in range(3):
        qml.Hadamard(wires=w)
    return qml.counts(wires=[0, 1, 2])

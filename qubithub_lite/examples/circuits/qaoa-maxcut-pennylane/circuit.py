import pennylane as qml

dev = qml.device("default.qubit", wires=4)


from math import pi

EDGES = [(0, 1), (1, 2), (2, 3), (3, 0)]
GAMMA, BETA = 7 * pi / 8, pi / 8


@qml.qnode(dev)
def circuit():
    for w in range(4):
        qml.Hadamard(wires=w)
    for a, b in EDGES:
        qml.IsingZZ(2 * GAMMA, wires=[a, b])
    for w in range(4):
        qml.RX(2 * BETA, wires=w)
    return qml.counts()

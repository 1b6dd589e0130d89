import pennylane as qml

dev = qml.device("default.qubit", wires=3)


from math import pi

VALUE = 5


@qml.qnode(dev)
def circuit():
    for w in range(3):  # Fourier basis state of VALUE (wire 0 is the least significant bit)
        qml.Hadamard(wires=w)
        qml.PhaseShift(2 * pi * VALUE / 2 ** (3 - w), wires=w)
    qml.adjoint(qml.QFT)(wires=[2, 1, 0])
    return qml.counts()

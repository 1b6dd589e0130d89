import cirq


def create_circuit():
    """Deutsch-Jozsa, balanced oracle f(x) = x0 ^ x1 ^ x2 (qubit 3 is the ancilla)."""
    q = cirq.LineQubit.range(4)
    return cirq.Circuit([
        cirq.X(q[3]),
        [cirq.H(x) for x in q],
        [cirq.CNOT(q[i], q[3]) for i in range(3)],
        [cirq.H(q[i]) for i in range(3)],
        cirq.measure(q[0], q[1], q[2], key="m"),
    ])

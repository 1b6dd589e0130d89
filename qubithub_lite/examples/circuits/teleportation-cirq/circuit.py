import cirq


def create_circuit():
    """Teleport |1> from qubit 0 to qubit 2 (deferred-measurement form)."""
    q0, q1, q2 = cirq.LineQubit.range(3)
    return cirq.Circuit([
        cirq.X(q0),
        cirq.H(q1), cirq.CNOT(q1, q2),
        cirq.CNOT(q0, q1), cirq.H(q0),
        cirq.CNOT(q1, q2), cirq.CZ(q0, q2),
        cirq.measure(q0, q1, q2, key="m"),
    ])

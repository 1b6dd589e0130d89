import cirq


def create_circuit():
    """One Grover iteration, marked state |11>."""
    a, b = cirq.LineQubit.range(2)
    return cirq.Circuit([
        cirq.H.on_each(a, b),
        cirq.CZ(a, b),
        cirq.H.on_each(a, b), cirq.X.on_each(a, b), cirq.CZ(a, b), cirq.X.on_each(a, b), cirq.H.on_each(a, b),
        cirq.measure(a, b, key="m"),
    ])

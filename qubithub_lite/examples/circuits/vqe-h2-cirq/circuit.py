import cirq


def create_circuit(theta=-0.4267):
    """The one-parameter H2 ansatz; -0.4267 minimises the energy."""
    q0, q1 = cirq.LineQubit.range(2)
    return cirq.Circuit([cirq.X(q0), cirq.ry(theta).on(q1), cirq.CNOT(q1, q0), cirq.measure(q0, q1, key="m")])

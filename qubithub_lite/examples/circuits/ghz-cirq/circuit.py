import cirq


def create_circuit(n=3):
    q = cirq.LineQubit.range(n)
    ops = [cirq.H(q[0])] + [cirq.CNOT(q[i], q[i + 1]) for i in range(n - 1)]
    return cirq.Circuit(ops + [cirq.measure(*q, key="m")])

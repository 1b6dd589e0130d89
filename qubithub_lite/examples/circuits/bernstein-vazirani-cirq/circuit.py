import cirq

SECRET = "101"  # qubit 0 is the rightmost character, as in Qiskit's bitstrings


def create_circuit():
    n = len(SECRET)
    q = cirq.LineQubit.range(n + 1)
    oracle = [cirq.CNOT(q[i], q[n]) for i, bit in enumerate(reversed(SECRET)) if bit == "1"]
    return cirq.Circuit([
        cirq.X(q[n]),
        [cirq.H(x) for x in q],
        oracle,
        [cirq.H(q[i]) for i in range(n)],
        cirq.measure(*q[:n], key="m"),
    ])

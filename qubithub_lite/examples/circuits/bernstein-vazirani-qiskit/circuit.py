from qiskit import QuantumCircuit

SECRET = "101"  # written as Qiskit writes bitstrings: qubit 0 is the rightmost character


def create_circuit(secret=SECRET):
    n = len(secret)
    qc = QuantumCircuit(n + 1, n)
    qc.x(n)
    qc.h(range(n + 1))
    for q, bit in enumerate(reversed(secret)):  # the oracle f(x) = s.x mod 2
        if bit == "1":
            qc.cx(q, n)
    qc.h(range(n))
    qc.measure(range(n), range(n))
    return qc

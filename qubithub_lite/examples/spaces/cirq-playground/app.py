"""Cirq playground: a GHZ state, simulated exactly and sampled."""
import cirq

qubits = cirq.LineQubit.range(3)
circuit = cirq.Circuit([cirq.H(qubits[0]), cirq.CNOT(qubits[0], qubits[1]), cirq.CNOT(qubits[1], qubits[2])])
print(circuit)

state = cirq.Simulator().simulate(circuit).final_state_vector
print("probabilities:", {format(i, "03b"): round(float(abs(a)) ** 2, 3) for i, a in enumerate(state) if abs(a) > 1e-9})

circuit.append(cirq.measure(*qubits, key="m"))
result = cirq.Simulator(seed=7).run(circuit, repetitions=500)
print("sampled:", dict(result.histogram(key="m", fold_func=lambda bits: "".join(map(str, bits)))))

"""Bell explorer: build the Bell circuit, print its diagram, statevector and sampled counts."""
from qiskit import QuantumCircuit
from qiskit.quantum_info import Statevector

qc = QuantumCircuit(2)
qc.h(0)
qc.cx(0, 1)
print(qc.draw(output="text"))

state = Statevector(qc)
print("amplitudes:", {str(k): round(float(abs(v)) ** 2, 3) for k, v in state.to_dict().items()})
print("sampled counts (qubit 0 rightmost):", {str(k): int(v) for k, v in sorted(state.sample_counts(1000).items())})

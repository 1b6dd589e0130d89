"""The whole VQE loop for H2 (the circuit half is the vqe-h2 example): gradient descent on
<H>(theta) with PennyLane's exact simulator."""
import pennylane as qml
from pennylane import numpy as np

H = qml.Hamiltonian(
    [-1.0523732, 0.39793742, -0.3979374, -0.0112801, 0.18093119, 0.18093119],
    [qml.Identity(0), qml.PauliZ(0), qml.PauliZ(1), qml.PauliZ(0) @ qml.PauliZ(1),
     qml.PauliX(0) @ qml.PauliX(1), qml.PauliY(0) @ qml.PauliY(1)],
)
dev = qml.device("default.qubit", wires=2)


@qml.qnode(dev)
def energy(theta):
    qml.PauliX(wires=0)
    qml.RY(theta, wires=1)
    qml.CNOT(wires=[1, 0])
    return qml.expval(H)


theta = np.array(0.5, requires_grad=True)
opt = qml.GradientDescentOptimizer(stepsize=0.4)
for step in range(40):
    theta, e = opt.step_and_cost(energy, theta)
    if step % 10 == 0:
        print(f"step {step:2d}: E = {e:.6f}  theta = {float(theta):.4f}")
print(f"final: E = {float(energy(theta)):.6f} at theta = {float(theta):.4f} (exact ground state -1.915371)")

OPENQASM 3.0;
include "stdgates.inc";
// one QAOA layer on the ring 0-1-2-3-0, gamma = 7*pi/8, beta = pi/8
qubit[4] q;
bit[4] c;
h q[0]; h q[1]; h q[2]; h q[3];
// exp(-i gamma Z_a Z_b) = CX, RZ(2 gamma), CX
cx q[0], q[1]; rz(7 * pi / 4) q[1]; cx q[0], q[1];
cx q[1], q[2]; rz(7 * pi / 4) q[2]; cx q[1], q[2];
cx q[2], q[3]; rz(7 * pi / 4) q[3]; cx q[2], q[3];
cx q[3], q[0]; rz(7 * pi / 4) q[0]; cx q[3], q[0];
rx(pi / 4) q[0]; rx(pi / 4) q[1]; rx(pi / 4) q[2]; rx(pi / 4) q[3];
c = measure q;

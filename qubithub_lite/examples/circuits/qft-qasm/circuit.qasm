OPENQASM 3.0;
include "stdgates.inc";
// Fourier basis state of 5, then the inverse QFT
qubit[3] q;
bit[3] c;
h q[0]; p(5 * pi / 4) q[0];
h q[1]; p(5 * pi / 2) q[1];
h q[2]; p(5 * pi) q[2];
swap q[0], q[2];
h q[0];
cp(-pi / 2) q[0], q[1];
h q[1];
cp(-pi / 4) q[0], q[2];
cp(-pi / 2) q[1], q[2];
h q[2];
c = measure q;

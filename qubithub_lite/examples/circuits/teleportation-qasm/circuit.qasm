OPENQASM 3.0;
include "stdgates.inc";
// teleport |1> from q[0] to q[2] (deferred-measurement form)
qubit[3] q;
bit[3] c;
x q[0];
h q[1];
cx q[1], q[2];
cx q[0], q[1];
h q[0];
cx q[1], q[2];
cz q[0], q[2];
c = measure q;

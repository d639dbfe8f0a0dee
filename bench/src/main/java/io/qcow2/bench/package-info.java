/**
 * JMH benchmarks of the overlap-check strategies (micro: on a checker alone; macro: W1-W4 through
 * the qcow2 engine), the A/B report ({@link io.qcow2.bench.AbReport}), the memory step ({@link
 * io.qcow2.bench.MemoryReport}) and the CI regression gate ({@link io.qcow2.bench.RegressionGate}).
 */
package io.qcow2.bench;

/**
 * The conformance kit (TCK) every overlap-check strategy passes: {@link
 * io.qcow2.overlap.tck.OverlapCheckerConformanceTest} to subclass in a strategy's tests, the {@link
 * io.qcow2.overlap.tck.ReferenceModel} and {@link io.qcow2.overlap.tck.SimulatedImage} it compares
 * against (also used by the benchmarks at run time; neither needs JUnit), {@link
 * io.qcow2.overlap.tck.ServiceDeclarations} for each strategy module's provider declarations,
 * {@link io.qcow2.overlap.tck.StrategyJar} to build a strategy jar in a test, and {@link
 * io.qcow2.overlap.tck.ConformanceKit}, the runnable kit for any strategy, built in or loaded.
 */
package io.qcow2.overlap.tck;

/**
 * The conformance suite (TCK) every overlap-check strategy passes, shipped as overlap-api's
 * test-jar: {@link io.qcow2.overlap.tck.OverlapCheckerConformanceTest} to subclass, the {@link
 * io.qcow2.overlap.tck.ReferenceModel} and {@link io.qcow2.overlap.tck.SimulatedImage} it compares
 * against (also used by the benchmarks at run time, so they do not depend on JUnit), and {@link
 * io.qcow2.overlap.tck.ServiceDeclarations} for each strategy module's provider declarations.
 */
package io.qcow2.overlap.tck;

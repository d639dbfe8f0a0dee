/**
 * JMH benchmarks of the overlap-check strategies, the A/B report and the regression gate. Runs as
 * JMH's uber-jar ({@code bench/target/benchmarks.jar}); JMH instantiates the generated benchmark
 * classes reflectively, hence the open package.
 */
open module io.qcow2.bench {
  requires io.qcow2.overlap;
  requires io.qcow2.format;
  requires io.qcow2.overlap.tck; // SimulatedImage builds the layouts
  requires jmh.core;
  requires jol.core;
  requires java.management;

  uses io.qcow2.overlap.OverlapCheckerProvider;
  // The macro workloads' timing wrapper; never one of the benchmarked strategies (Strategies.names).
  provides io.qcow2.overlap.OverlapCheckerProvider with io.qcow2.bench.ProbeProvider;
}

package io.qcow2.bench;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.profile.InternalProfiler;
import org.openjdk.jmh.results.AggregationPolicy;
import org.openjdk.jmh.results.IterationResult;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.ScalarResult;

/**
 * Hands {@link CheckProbe}'s figures of each iteration to JMH as secondary results, so JMH keeps
 * them per iteration and computes their mean and 99.9 % error like the primary score's:
 * {@value #SHARE} (percent of the workload thread's CPU time spent in the strategy), {@value
 * #CPU} (the workload thread's CPU time, ms), {@value #KEPT} (percent of windows not disturbed
 * by preemption) and {@value #CALLS} (calls into the strategy); with the paired none pass ({@link ImageWorkloadBenchmark#PAIRED_NONE_PROPERTY})
 * also {@value #NONE_CPU} (its thread CPU time, ms) and {@value #VS_NONE} ({@code (t − t_none) /
 * t} of the pair, percent) and, from the floor pass ({@link CheckProbe#startFloor}), {@value
 * #FLOOR} (the probe's in-situ interval around a call that does nothing, ns). Added by {@link
 * SuiteRunner} to the macro workloads' runs; public because JMH
 * instantiates it by name in the forked VM.
 */
public final class ProbeProfiler implements InternalProfiler {
  static final String SHARE = "probe.share";
  static final String CPU = "probe.cpu";
  static final String KEPT = "probe.kept";
  static final String NONE_CPU = "probe.noneCpu";
  static final String VS_NONE = "probe.vsNone";
  static final String FLOOR = "probe.floorNs";
  static final String CALLS = "probe.calls";

  public ProbeProfiler() {}

  @Override
  public String getDescription() {
    return "CPU time inside the overlap strategy over the workload thread's CPU time";
  }

  @Override
  public void beforeIteration(BenchmarkParams benchmarkParams, IterationParams iterationParams) {
    CheckProbe.clear();
  }

  @Override
  public Collection<? extends Result> afterIteration(BenchmarkParams benchmarkParams,
      IterationParams iterationParams, IterationResult result) {
    CheckProbe.Iteration it = CheckProbe.lastIteration();
    if (it == null) {
      return List.of();
    }
    List<Result> results = new ArrayList<>();
    // No window kept (a thread descheduled all along): no share this iteration, rather than 0.
    if (!Double.isNaN(it.sharePercent())) {
      results.add(new ScalarResult(SHARE, it.sharePercent(), "%", AggregationPolicy.AVG));
    }
    results.add(new ScalarResult(CPU, it.cpuMillis(), "ms", AggregationPolicy.AVG));
    results.add(new ScalarResult(KEPT, it.keptPercent(), "%", AggregationPolicy.AVG));
    results.add(new ScalarResult(CALLS, it.calls(), "calls", AggregationPolicy.AVG));
    if (!Double.isNaN(it.noneCpuMillis())) {
      results.add(new ScalarResult(NONE_CPU, it.noneCpuMillis(), "ms", AggregationPolicy.AVG));
      results.add(new ScalarResult(VS_NONE, it.vsNonePercent(), "%", AggregationPolicy.AVG));
    }
    if (!Double.isNaN(it.floorNanos())) {
      results.add(new ScalarResult(FLOOR, it.floorNanos(), "ns", AggregationPolicy.AVG));
    }
    return results;
  }
}

package io.qcow2.bench;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The machine-readable answer, {@code ab-summary.json}: one entry per macro workload and strategy
 * (direct overlap share, share against {@code none}, time) and one per check-latency point
 * (512-byte checks). Every error is a 99.9 % half-width. The field names are a contract (issue 11).
 */
final class AbSummary {
  static final String METHOD = "probe: System.nanoTime around every call into the strategy, less"
      + " the probe's own interval per call measured in situ (the same workload through the probe"
      + " around a no-op checker, just before in the same JVM), over the workload thread's CPU time"
      + " in windows of ~250 us bracketed by the thread CPU clock, preempted windows dropped; mean"
      + " of single-shot iterations, Student-t 99.9 %; shareVsNone from the workload thread's CPU"
      + " time, paired per iteration with an overlap-check=none pass of the same workload just"
      + " before it in the same JVM";
  static final String METHOD_UNPAIRED = "probe: System.nanoTime around every call into the"
      + " strategy, less the probe's own interval per call calibrated on a no-op checker in a tight"
      + " loop, over the workload thread's CPU time in windows of ~250 us bracketed by the thread CPU"
      + " clock, preempted windows dropped; mean of single-shot iterations, Student-t 99.9 %;"
      + " shareVsNone against the none fork's (no paired passes in these results)";
  static final String METHOD_WITHOUT_PROBE =
      "shareVsNone only: no probe metrics in these results (share is null)";

  /**
   * One macro entry. Shares in percent, errors in percentage points; NaN where unknown (written as
   * null). {@code nsPerCall}: the direct share as time inside the strategy per call into it (the
   * share of the workload thread's CPU time over the calls the probe counted).
   */
  record Macro(String workload, String strategy, double share, double shareError,
      double shareVsNone, double shareVsNoneError, String method, double ms, double msError,
      double nsPerCall, double nsPerCallError) {}

  /** One check-latency point. */
  record Check(String strategy, long structures, double ns, double nsError) {}

  private AbSummary() {}

  /** The macro entries, in the order of the results (none first within a workload). */
  static List<Macro> macro(List<BenchResult> results) {
    List<Macro> out = new ArrayList<>();
    Map<String, List<BenchResult>> byWorkload = new LinkedHashMap<>();
    for (BenchResult r : results) {
      if (Workloads.label(r.benchmark()) != null && !Strategies.isOutside(r.strategy())) {
        byWorkload.computeIfAbsent(r.workload(), k -> new ArrayList<>()).add(r);
      }
    }
    for (List<BenchResult> group : byWorkload.values()) {
      group.sort(java.util.Comparator.comparing(BenchResult::strategy, Strategies.ORDER));
      BenchResult none = find(group, Strategies.NONE);
      for (BenchResult r : group) {
        out.add(entry(r, none));
      }
    }
    return out;
  }

  private static Macro entry(BenchResult r, BenchResult none) {
    String label = Workloads.label(r.benchmark());
    BenchResult.Secondary share = r.secondary().get(ProbeProfiler.SHARE);
    boolean isNone = r.strategy().equals(Strategies.NONE);
    double vsNone = Double.NaN;
    double vsNoneError = Double.NaN;
    if (isNone) {
      vsNone = 0;
      vsNoneError = 0;
    } else if (r.secondary().containsKey(ProbeProfiler.VS_NONE)) {
      // Paired in the same JVM: drift between forks (JIT, memory placement, neighbours) cancels.
      vsNone = r.secondary().get(ProbeProfiler.VS_NONE).score();
      vsNoneError = r.secondary().get(ProbeProfiler.VS_NONE).error();
    } else if (none != null) {
      double[] t = cpu(r);
      double[] tNone = cpu(none);
      double[] s = ReportTable.share(t[0], t[1], tNone[0], tNone[1]);
      vsNone = 100 * s[0];
      vsNoneError = 100 * s[1];
    }
    double directShare = isNone ? 0 : share == null ? Double.NaN : share.score();
    double directError = isNone ? 0 : share == null ? Double.NaN : share.error();
    double[] perCall = nanosPerCall(r, directShare, directError);
    return new Macro(label, r.strategy(), directShare, directError, vsNone, vsNoneError,
        share == null && !isNone ? METHOD_WITHOUT_PROBE
            : isNone || r.secondary().containsKey(ProbeProfiler.VS_NONE) ? METHOD : METHOD_UNPAIRED,
        r.score(), r.error(), perCall[0], perCall[1]);
  }

  /** Share × thread CPU time / calls, with the share's and the CPU time's relative errors. */
  private static double[] nanosPerCall(BenchResult r, double share, double shareError) {
    BenchResult.Secondary calls = r.secondary().get(ProbeProfiler.CALLS);
    BenchResult.Secondary cpu = r.secondary().get(ProbeProfiler.CPU);
    if (calls == null || cpu == null || calls.score() <= 0 || Double.isNaN(share)) {
      return new double[] {Double.NaN, Double.NaN};
    }
    double ns = share / 100 * cpu.score() * 1e6 / calls.score();
    double relative = Math.hypot(share == 0 ? 0 : shareError / share, cpu.error() / cpu.score());
    return new double[] {ns, Math.abs(ns) * relative};
  }

  /** The workload thread's CPU time and its error when the probe measured it, else the score. */
  static double[] cpu(BenchResult r) {
    BenchResult.Secondary cpu = r.secondary().get(ProbeProfiler.CPU);
    return cpu != null
        ? new double[] {cpu.score(), cpu.error()}
        : new double[] {r.score(), r.error()};
  }

  /** The check-latency points of one-cluster (512-byte) checks. */
  static List<Check> checks(List<BenchResult> results) {
    List<Check> out = new ArrayList<>();
    for (BenchResult r : results) {
      if (r.benchmark().endsWith(".CheckLatencyBenchmark.check")
          && "512".equals(r.params().get("writeBytes")) && r.params().containsKey("structures")) {
        out.add(new Check(r.strategy(), Long.parseLong(r.params().get("structures")), r.score(),
            r.error()));
      }
    }
    out.sort(java.util.Comparator.comparing(Check::strategy, Strategies.ORDER)
        .thenComparingLong(Check::structures));
    return out;
  }

  /** The summary as the JSON array the issue specifies. */
  static String toJson(List<BenchResult> results) {
    List<Object> array = new ArrayList<>();
    for (Macro m : macro(results)) {
      Map<String, Object> o = new LinkedHashMap<>();
      o.put("workload", m.workload());
      o.put("strategy", m.strategy());
      o.put("share", m.share());
      o.put("shareError", m.shareError());
      o.put("shareVsNone", m.shareVsNone());
      o.put("shareVsNoneError", m.shareVsNoneError());
      o.put("method", m.method());
      o.put("ms", m.ms());
      o.put("msError", m.msError());
      o.put("nsPerCall", m.nsPerCall());
      o.put("nsPerCallError", m.nsPerCallError());
      array.add(o);
    }
    for (Check c : checks(results)) {
      Map<String, Object> o = new LinkedHashMap<>();
      o.put("workload", "check");
      o.put("strategy", c.strategy());
      o.put("structures", c.structures());
      o.put("ns", c.ns());
      o.put("nsError", c.nsError());
      array.add(o);
    }
    return Json.write(array);
  }

  private static BenchResult find(List<BenchResult> group, String strategy) {
    for (BenchResult r : group) {
      if (r.strategy().equals(strategy)) {
        return r;
      }
    }
    return null;
  }
}

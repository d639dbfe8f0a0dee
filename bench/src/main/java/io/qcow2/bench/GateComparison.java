package io.qcow2.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The regression gate's verdict: every baseline metric measured again and compared with its
 * tolerance. A comparison on ratios measured in one run, never on absolute times; a ratio is of
 * the two scores' medians over their iterations, its error propagated from JMH's errors.
 */
final class GateComparison {
  enum Verdict { OK, REGRESSION, MISSING }

  record Line(Baseline.Metric metric, double measured, double measuredError, Verdict verdict) {}

  private final List<Line> lines;

  private GateComparison(List<Line> lines) {
    this.lines = lines;
  }

  List<Line> lines() {
    return lines;
  }

  /** Compares fresh results (benchmark scores and memory records) with the baseline. */
  static GateComparison compare(
      Baseline baseline, List<BenchResult> results, List<MemoryRecord> memory) {
    List<Line> lines = new ArrayList<>();
    for (Baseline.Metric metric : baseline.metrics()) {
      double[] measured = measure(metric, results, memory);
      Verdict verdict;
      if (measured == null || Double.isNaN(measured[0])) {
        verdict = Verdict.MISSING;
        measured = new double[] {Double.NaN, Double.NaN};
      } else {
        verdict = measured[0] > metric.limit() ? Verdict.REGRESSION : Verdict.OK;
      }
      lines.add(new Line(metric, measured[0], measured[1], verdict));
    }
    return new GateComparison(lines);
  }

  /** The metric's value and error in fresh results, or null when they lack it. */
  static double[] measure(
      Baseline.Metric metric, List<BenchResult> results, List<MemoryRecord> memory) {
    if (metric.kind().equals(Baseline.Metric.MEMORY)) {
      for (MemoryRecord m : memory) {
        if (m.layout().equals(metric.workload()) && m.strategy().equals(metric.strategy())) {
          return new double[] {m.memoryBytes(), 0};
        }
      }
      return null;
    }
    BenchResult value = find(results, metric.workload(), metric.strategy());
    if (metric.kind().equals(Baseline.Metric.SHARE)) {
      BenchResult.Secondary share = value == null ? null : value.secondary().get(ProbeProfiler.SHARE);
      if (share == null || share.score() >= 100) {
        return null;
      }
      double rest = 100 - share.score();
      return new double[] {share.score() / rest, share.error() * 100 / (rest * rest)};
    }
    BenchResult reference = find(results, metric.workload(), metric.reference());
    if (value == null || reference == null) {
      return null;
    }
    BenchResult.Secondary cpu = value.secondary().get(ProbeProfiler.CPU);
    BenchResult.Secondary referenceCpu = reference.secondary().get(ProbeProfiler.CPU);
    if (cpu != null && referenceCpu != null) {
      // Macro workloads: the workload thread's CPU time, which a neighbour's load moves less
      // than wall time.
      double ratio = cpu.score() / referenceCpu.score();
      return new double[] {ratio, ratio * Math.hypot(cpu.error() / cpu.score(),
          referenceCpu.error() / referenceCpu.score())};
    }
    // Medians: on a shared CI machine one iteration slowed by a neighbour moves a mean, not these.
    double ratio = value.median() / reference.median();
    double error = ratio * Math.hypot(rel(value), rel(reference));
    return new double[] {ratio, error};
  }

  private static BenchResult find(List<BenchResult> results, String workload, String strategy) {
    for (BenchResult r : results) {
      if (r.workload().equals(workload) && r.strategy().equals(strategy)) {
        return r;
      }
    }
    return null;
  }

  private static double rel(BenchResult r) {
    return Double.isNaN(r.error()) || r.score() == 0 ? 0 : r.error() / r.score();
  }

  /** 0 when every metric is within tolerance, 1 on a regression, 2 when a metric is missing. */
  int exitCode() {
    boolean missing = false;
    for (Line line : lines) {
      if (line.verdict() == Verdict.REGRESSION) {
        return 1;
      }
      missing |= line.verdict() == Verdict.MISSING;
    }
    return missing ? 2 : 0;
  }

  /**
   * One-sided 99 % quantiles of Student's t for 1..20 degrees of freedom; beyond, 2.53 (the value
   * at 20, above the limit 2.33).
   */
  private static final double[] T_99 = {31.821, 6.965, 4.541, 3.747, 3.365, 3.143, 2.998, 2.896,
      2.821, 2.764, 2.718, 2.681, 2.650, 2.624, 2.602, 2.583, 2.567, 2.552, 2.539, 2.528};

  static double t99(int degreesOfFreedom) {
    if (degreesOfFreedom < 1) {
      throw new IllegalArgumentException("need at least two runs, got " + (degreesOfFreedom + 1));
    }
    return degreesOfFreedom <= T_99.length ? T_99[degreesOfFreedom - 1] : T_99[T_99.length - 1];
  }

  /**
   * A baseline from {@code runs} repeated measurements of unchanged code: each measured metric's
   * value is the geometric mean of the runs, its error the runs' standard deviation (relative,
   * in log space), and its tolerance the one-sided 99 % prediction limit for one more run, {@code
   * exp(t(0.99, n−1) · s · sqrt(1 + 1/n)) − 1}, rounded up to 0.01: unchanged code exceeds it in
   * 1 % of runs, so in 0.01 % of CI runs, which fail only when a second measurement exceeds it
   * too. Memory metrics are deterministic: their value is measured, their tolerance kept.
   */
  static Baseline calibrated(Baseline old, List<GateComparison> runs, String machine) {
    if (runs.size() < 2) {
      throw new IllegalArgumentException("calibration needs at least two runs, got " + runs.size());
    }
    List<Baseline.Metric> metrics = new ArrayList<>();
    for (int i = 0; i < old.metrics().size(); i++) {
      Baseline.Metric m = old.metrics().get(i);
      double[] logs = new double[runs.size()];
      for (int r = 0; r < runs.size(); r++) {
        Line line = runs.get(r).lines().get(i);
        if (line.verdict() == Verdict.MISSING || !(line.measured() > 0)) {
          throw new IllegalStateException("cannot calibrate: run " + (r + 1) + " has no positive "
              + "measurement for " + m.name());
        }
        logs[r] = Math.log(line.measured());
      }
      double mean = 0;
      for (double v : logs) {
        mean += v / logs.length;
      }
      double var = 0;
      for (double v : logs) {
        var += (v - mean) * (v - mean) / (logs.length - 1);
      }
      double sd = Math.sqrt(var);
      double value = Math.exp(mean);
      if (m.kind().equals(Baseline.Metric.MEMORY)) {
        metrics.add(m.withValue(value, 0));
        continue;
      }
      double limit = t99(logs.length - 1) * sd * Math.sqrt(1 + 1.0 / logs.length);
      double tolerance = Math.ceil((Math.exp(limit) - 1) * 100) / 100;
      metrics.add(new Baseline.Metric(m.kind(), m.workload(), m.strategy(), m.reference(), value,
          value * sd, tolerance));
    }
    return new Baseline(old.comment(), machine, metrics);
  }

  /** The readable table: metric, baseline, measured, tolerance, limit, verdict. */
  String toText() {
    String[] header = {"metric", "baseline", "measured", "tolerance", "limit", "verdict"};
    List<String[]> rows = new ArrayList<>();
    rows.add(header);
    for (Line line : lines) {
      Baseline.Metric m = line.metric();
      rows.add(new String[] {
        m.name(),
        value(m, m.value(), m.error()),
        Double.isNaN(line.measured()) ? "-" : value(m, line.measured(), line.measuredError()),
        String.format(Locale.ROOT, "+%.0f %%", 100 * m.tolerance()),
        value(m, m.limit(), 0),
        line.verdict() == Verdict.OK ? "ok"
            : line.verdict() == Verdict.REGRESSION
                ? String.format(Locale.ROOT, "REGRESSION (%.2fx baseline)", line.measured() / m.value())
                : "MISSING (not measured)",
      });
    }
    int[] width = new int[header.length];
    for (String[] row : rows) {
      for (int i = 0; i < row.length; i++) {
        width[i] = Math.max(width[i], row[i].length());
      }
    }
    StringBuilder out = new StringBuilder();
    for (String[] row : rows) {
      for (int i = 0; i < row.length; i++) {
        String pad = " ".repeat(width[i] - row[i].length());
        out.append(i == 0 || i == 5 ? row[i] + pad : pad + row[i]);
        out.append(i + 1 < row.length ? "  " : "\n");
      }
    }
    int code = exitCode();
    out.append(code == 0 ? "PASS: every metric within tolerance\n"
        : code == 1 ? "FAIL: regression beyond tolerance\n"
        : "ERROR: some metrics were not measured\n");
    return out.toString();
  }

  private static String value(Baseline.Metric m, double v, double error) {
    if (m.kind().equals(Baseline.Metric.MEMORY)) {
      return String.format(Locale.ROOT, "%d B", Math.round(v));
    }
    String text = ReportTable.number(v);
    return error > 0 ? text + " ± " + ReportTable.number(error) : text;
  }
}

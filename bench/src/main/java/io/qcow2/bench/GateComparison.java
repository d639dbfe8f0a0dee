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
    BenchResult reference = find(results, metric.workload(), metric.reference());
    if (value == null || reference == null) {
      return null;
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
   * The baseline with every metric's value replaced by the measured one. A tolerance is kept,
   * unless the new measurement's relative error reaches it: then it is widened to 1.5 times that
   * error, rounded up to a multiple of 0.25, so a tolerance is always larger than the error it
   * was measured with.
   */
  Baseline updatedBaseline(Baseline old, String machine) {
    List<Baseline.Metric> metrics = new ArrayList<>();
    for (Line line : lines) {
      if (line.verdict() == Verdict.MISSING) {
        throw new IllegalStateException("cannot update the baseline: no measurement for "
            + line.metric().name());
      }
      Baseline.Metric m = line.metric().withValue(line.measured(), line.measuredError());
      double relativeError = line.measured() == 0 ? 0 : line.measuredError() / line.measured();
      if (relativeError >= m.tolerance()) {
        double widened = Math.ceil(1.5 * relativeError * 4) / 4;
        m = new Baseline.Metric(m.kind(), m.workload(), m.strategy(), m.reference(), m.value(),
            m.error(), widened);
      }
      metrics.add(m);
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

package io.qcow2.bench;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The answer first: per macro workload, the strategy with the smallest overlap share, every
 * strategy's share (direct, and against {@code none}) with its 99.9 % error, its speed-up over
 * legacy in workload-thread CPU time, the series' figure, and QEMU's own times where measured.
 */
final class Headline {
  /** One workload's answer. */
  record Workload(String label, String name, String winner, List<AbSummary.Macro> strategies,
      Map<String, double[]> speedUp, List<BenchResult> outside) {}

  private Headline() {}

  static List<Workload> of(List<BenchResult> results) {
    Map<String, List<AbSummary.Macro>> byLabel = new LinkedHashMap<>();
    Map<String, String> names = new LinkedHashMap<>();
    for (AbSummary.Macro m : AbSummary.macro(results)) {
      byLabel.computeIfAbsent(m.workload(), k -> new ArrayList<>()).add(m);
    }
    Map<String, Map<String, double[]>> cpu = new LinkedHashMap<>();
    Map<String, List<BenchResult>> outside = new LinkedHashMap<>();
    for (BenchResult r : results) {
      String label = Workloads.label(r.benchmark());
      if (label == null) {
        continue;
      }
      if (Strategies.isOutside(r.strategy())) {
        outside.computeIfAbsent(label, k -> new ArrayList<>()).add(r);
      } else {
        names.putIfAbsent(label, r.workload());
        cpu.computeIfAbsent(label, k -> new LinkedHashMap<>()).put(r.strategy(), AbSummary.cpu(r));
      }
    }
    List<Workload> out = new ArrayList<>();
    byLabel.forEach((label, strategies) -> {
      String winner = null;
      double best = Double.POSITIVE_INFINITY;
      for (AbSummary.Macro m : strategies) {
        double share = Double.isNaN(m.share()) ? m.shareVsNone() : m.share();
        if (!m.strategy().equals(Strategies.NONE) && share < best) {
          best = share;
          winner = m.strategy();
        }
      }
      Map<String, double[]> speedUp = new LinkedHashMap<>();
      double[] legacy = cpu.get(label).get(ReportTable.LEGACY);
      if (legacy != null) {
        cpu.get(label).forEach((strategy, t) -> {
          double ratio = legacy[0] / t[0];
          speedUp.put(strategy, new double[] {ratio,
              ratio * Math.hypot(legacy[1] / legacy[0], t[1] / t[0])});
        });
      }
      out.add(new Workload(label, names.get(label), winner, strategies, speedUp,
          outside.getOrDefault(label, List.of())));
    });
    return out;
  }

  /** Share and error as "12.3 ± 0.4 %", with more digits below 1 %. */
  static String percent(double value, double error) {
    if (Double.isNaN(value)) {
      return "-";
    }
    String format = Math.abs(value) < 1 ? "%.3f ± %.3f %%" : "%.1f ± %.1f %%";
    return String.format(Locale.ROOT, format, value, error);
  }

  /** Time per call as "24.6 ± 1.1 ns", "-" when unknown. */
  static String nanos(double value, double error) {
    return Double.isNaN(value) ? "-"
        : String.format(Locale.ROOT, value < 10 ? "%.2f ± %.2f ns" : "%.1f ± %.1f ns", value, error);
  }

  static String speedUp(double[] s) {
    return s == null ? "-" : String.format(Locale.ROOT, "%.2f× ± %.2f", s[0], s[1]);
  }

  static String toText(List<Workload> workloads) {
    StringBuilder out = new StringBuilder("Answer (overlap share = CPU time in the strategy / CPU"
        + " time of the workload thread; ± 99.9 % half-widths):\n");
    for (Workload w : workloads) {
      out.append(String.format(Locale.ROOT, "%n%s %s: winner %s%n", w.label(), w.name(),
          w.winner() == null ? "-" : w.winner()));
      for (AbSummary.Macro m : w.strategies()) {
        if (m.strategy().equals(Strategies.NONE)) {
          continue;
        }
        out.append(String.format(Locale.ROOT,
            "  %-16s share %-20s %-27s vs none %-20s %8.1f ms wall, speed-up over legacy %s%n",
            m.strategy(), percent(m.share(), m.shareError()),
            Double.isNaN(m.nsPerCall()) ? ""
                : nanos(m.nsPerCall(), m.nsPerCallError()) + " a call",
            percent(m.shareVsNone(), m.shareVsNoneError()), m.ms(),
            speedUp(w.speedUp().get(m.strategy()))));
      }
      String series = Workloads.seriesFigure(w.label());
      if (series != null) {
        out.append("  series (perf, QEMU 2014): ").append(series).append('\n');
      }
      for (BenchResult r : w.outside()) {
        out.append(String.format(Locale.ROOT, "  %s: %.1f ± %.1f ms%n", r.strategy(), r.score(),
            r.error()));
      }
    }
    return out.toString();
  }
}

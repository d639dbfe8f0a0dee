package io.qcow2.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The committed baseline of the regression gate ({@code bench/baseline.json}): for every metric
 * its value measured on the reference machine, that measurement's error, and the tolerance.
 *
 * <p>Two kinds of metric, both "lower is better":
 *
 * <ul>
 *   <li>{@code ratio}: a strategy's score divided by its reference's score (legacy or none) for
 *       one workload, both measured in the same run, so a shared, noisy CI machine slows both;
 *   <li>{@code share}: the CPU time a macro workload spends inside the strategy over the CPU time
 *       it spends outside it, measured in the same iterations of the same thread by the probe
 *       ({@link CheckProbe}): share / (100 − share). Proportional to the strategy's cost per
 *       call, and free of the drift between separately forked runs;
 *   <li>{@code memory}: {@code memoryBytes()} of a strategy for a fixed layout, deterministic.
 * </ul>
 *
 * A metric regresses when the measured value exceeds {@code value * (1 + tolerance)}.
 */
record Baseline(String comment, String machine, List<Metric> metrics) {
  /**
   * One gated metric.
   *
   * @param workload for a ratio, {@link BenchResult#workload()} of the scores compared; for memory,
   *     the layout name
   * @param reference the strategy divided by (ratio only; empty for memory)
   * @param tolerance allowed relative growth, e.g. 0.5 allows 50 % worse than {@code value}
   */
  record Metric(String kind, String workload, String strategy, String reference, double value,
      double error, double tolerance) {
    static final String RATIO = "ratio";
    static final String SHARE = "share";
    static final String MEMORY = "memory";

    String name() {
      return switch (kind) {
        case RATIO -> String.format("%s/%s %s", strategy, reference, workload);
        case SHARE -> String.format("%s in-strategy/rest CPU %s", strategy, workload);
        default -> String.format("memory %s %s", strategy, workload);
      };
    }

    /** The largest value that still passes. */
    double limit() {
      return value * (1 + tolerance);
    }

    Metric withValue(double newValue, double newError) {
      return new Metric(kind, workload, strategy, reference, newValue, newError, tolerance);
    }

    Map<String, Object> toJson() {
      Map<String, Object> map = new LinkedHashMap<>();
      map.put("kind", kind);
      map.put("workload", workload);
      map.put("strategy", strategy);
      map.put("reference", reference);
      map.put("value", value);
      map.put("error", error);
      map.put("tolerance", tolerance);
      return map;
    }
  }

  static Baseline read(Path file) throws IOException {
    return parse(Files.readString(file));
  }

  static Baseline parse(String text) {
    Map<?, ?> root = (Map<?, ?>) Json.parse(text);
    List<Metric> metrics = new ArrayList<>();
    Object list = root.get("metrics");
    if (!(list instanceof List<?> entries)) {
      throw new IllegalArgumentException("baseline has no \"metrics\" array");
    }
    for (Object entry : entries) {
      Map<?, ?> m = (Map<?, ?>) entry;
      String kind = (String) m.get("kind");
      if (!Metric.RATIO.equals(kind) && !Metric.SHARE.equals(kind) && !Metric.MEMORY.equals(kind)) {
        throw new IllegalArgumentException("baseline metric has unknown kind: " + kind);
      }
      metrics.add(new Metric(kind, (String) m.get("workload"), (String) m.get("strategy"),
          m.get("reference") == null ? "" : (String) m.get("reference"),
          num(m, "value"), m.get("error") == null ? 0 : num(m, "error"), num(m, "tolerance")));
    }
    Object comment = root.get("comment");
    Object machine = root.get("machine");
    return new Baseline(comment == null ? "" : comment.toString(),
        machine == null ? "" : machine.toString(), metrics);
  }

  private static double num(Map<?, ?> m, String key) {
    Object v = m.get(key);
    if (!(v instanceof Number n)) {
      throw new IllegalArgumentException("baseline metric " + m.get("workload") + ": " + key
          + " is missing or not a number");
    }
    return n.doubleValue();
  }

  String toJson() {
    Map<String, Object> root = new LinkedHashMap<>();
    root.put("comment", comment);
    root.put("machine", machine);
    List<Object> list = new ArrayList<>();
    for (Metric m : metrics) {
      list.add(m.toJson());
    }
    root.put("metrics", list);
    return Json.write(root);
  }
}

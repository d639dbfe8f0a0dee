package io.qcow2.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;
import java.util.TreeMap;

/**
 * One benchmark score as JMH reports it: which benchmark, with which parameters, the score, its
 * error (the half-width of the 99.9 % confidence interval; NaN when JMH could not compute one), the
 * unit, and the median of the iterations (JMH's 50th percentile; the score when unknown).
 *
 * @param benchmark the fully qualified benchmark method, e.g. {@code
 *     io.qcow2.bench.CheckLatencyBenchmark.check}
 * @param params the {@code @Param} values, sorted by name
 */
record BenchResult(
    String benchmark, String mode, Map<String, String> params, double score, double error,
    String unit, double median, Map<String, Secondary> secondary) {
  /** The parameter that names the strategy. */
  static final String STRATEGY = "strategy";

  /** A secondary metric (e.g. a profiler's): its mean over iterations and 99.9 % half-width. */
  record Secondary(double score, double error, String unit) {}

  BenchResult {
    params = Collections.unmodifiableMap(new TreeMap<>(params));
    secondary = Collections.unmodifiableMap(new TreeMap<>(secondary));
  }

  /** A result without secondary metrics. */
  BenchResult(String benchmark, String mode, Map<String, String> params, double score,
      double error, String unit, double median) {
    this(benchmark, mode, params, score, error, unit, median, Map.of());
  }

  /** A result whose median is not known: taken to be the score. */
  BenchResult(String benchmark, String mode, Map<String, String> params, double score,
      double error, String unit) {
    this(benchmark, mode, params, score, error, unit, score);
  }

  /** The strategy this score is for, or {@code "?"} when the benchmark has no strategy param. */
  String strategy() {
    return params.getOrDefault(STRATEGY, "?");
  }

  /** {@code Class.method} without the package. */
  String shortName() {
    int method = benchmark.lastIndexOf('.');
    int type = benchmark.lastIndexOf('.', method - 1);
    return benchmark.substring(type + 1);
  }

  /**
   * The workload this score is for: the short name and every parameter but the strategy, e.g.
   * {@code CheckLatencyBenchmark.check structures=1000 writeBytes=512}. Scores of one workload
   * differ only in strategy and are compared with each other.
   */
  String workload() {
    StringJoiner joiner = new StringJoiner(" ");
    joiner.add(shortName());
    params.forEach((k, v) -> {
      if (!k.equals(STRATEGY)) {
        joiner.add(k + "=" + v);
      }
    });
    return joiner.toString();
  }

  /**
   * Writes results in the subset of JMH's JSON format that {@link #parseJmhJson} reads (for scores
   * measured outside JMH, such as the qemu-img reference).
   */
  static String toJmhLikeJson(List<BenchResult> results) {
    List<Object> runs = new ArrayList<>();
    for (BenchResult r : results) {
      Map<String, Object> metric = new java.util.LinkedHashMap<>();
      metric.put("score", r.score());
      metric.put("scoreError", Double.isNaN(r.error()) ? "NaN" : r.error());
      metric.put("scoreUnit", r.unit());
      Map<String, Object> run = new java.util.LinkedHashMap<>();
      run.put("benchmark", r.benchmark());
      run.put("mode", r.mode());
      run.put("params", new java.util.LinkedHashMap<String, Object>(r.params()));
      run.put("primaryMetric", metric);
      if (!r.secondary().isEmpty()) {
        Map<String, Object> secondary = new java.util.LinkedHashMap<>();
        r.secondary().forEach((name, m) -> secondary.put(name, new java.util.LinkedHashMap<>(
            Map.of("score", m.score(), "scoreError", Double.isNaN(m.error()) ? "NaN" : m.error(),
                "scoreUnit", m.unit()))));
        run.put("secondaryMetrics", secondary);
      }
      runs.add(run);
    }
    return Json.write(runs);
  }

  /** Reads a JMH result file written with {@code -rf json}. */
  static List<BenchResult> readJmhJson(Path file) throws IOException {
    return parseJmhJson(Files.readString(file));
  }

  /**
   * Parses JMH's JSON result format: an array of runs, each with {@code benchmark}, {@code mode},
   * {@code params} and {@code primaryMetric} ({@code score}, {@code scoreError}, {@code
   * scoreUnit}).
   *
   * @throws IllegalArgumentException if the text is not JSON or a run lacks one of those fields
   */
  static List<BenchResult> parseJmhJson(String text) {
    Object root = Json.parse(text);
    if (!(root instanceof List<?> runs)) {
      throw new IllegalArgumentException("JMH JSON must be an array of runs");
    }
    List<BenchResult> results = new ArrayList<>();
    for (Object run : runs) {
      Map<?, ?> map = asMap(run, "run");
      String benchmark = asString(map.get("benchmark"), "benchmark");
      Map<String, String> params = new TreeMap<>();
      Object rawParams = map.get("params");
      if (rawParams != null) {
        asMap(rawParams, "params").forEach((k, v) -> params.put(k.toString(), String.valueOf(v)));
      }
      Map<?, ?> metric = asMap(map.get("primaryMetric"), benchmark + " primaryMetric");
      double score = asDouble(metric.get("score"), benchmark + " score");
      double median = score;
      if (metric.get("scorePercentiles") instanceof Map<?, ?> percentiles
          && percentiles.get("50.0") instanceof Number p50) {
        median = p50.doubleValue();
      }
      Map<String, Secondary> secondary = new TreeMap<>();
      if (map.get("secondaryMetrics") instanceof Map<?, ?> metrics) {
        metrics.forEach((name, value) -> {
          Map<?, ?> m = asMap(value, benchmark + " secondary metric " + name);
          secondary.put(name.toString(), new Secondary(
              asDouble(m.get("score"), benchmark + " " + name + " score"),
              asDouble(m.get("scoreError"), benchmark + " " + name + " scoreError"),
              asString(m.get("scoreUnit"), benchmark + " " + name + " scoreUnit")));
        });
      }
      results.add(new BenchResult(
          benchmark,
          asString(map.get("mode"), "mode"),
          params,
          score,
          asDouble(metric.get("scoreError"), benchmark + " scoreError"),
          asString(metric.get("scoreUnit"), benchmark + " scoreUnit"),
          median,
          secondary));
    }
    return results;
  }

  private static Map<?, ?> asMap(Object value, String what) {
    if (value instanceof Map<?, ?> map) {
      return map;
    }
    throw new IllegalArgumentException("JMH JSON: " + what + " is not an object: " + value);
  }

  private static String asString(Object value, String what) {
    if (value instanceof String s) {
      return s;
    }
    throw new IllegalArgumentException("JMH JSON: " + what + " is missing or not a string");
  }

  private static double asDouble(Object value, String what) {
    if (value instanceof Number n) {
      return n.doubleValue();
    }
    if ("NaN".equals(value)) {
      return Double.NaN;
    }
    throw new IllegalArgumentException("JMH JSON: " + what + " is missing or not a number: " + value);
  }
}

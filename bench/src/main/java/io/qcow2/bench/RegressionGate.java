package io.qcow2.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * The CI regression gate: measures exactly what the committed baseline lists (CI profile: one
 * fork, short iterations), compares each metric — a strategy's score divided by its reference's
 * (legacy or none) measured in the same run, or a strategy's memory for a fixed layout — with the
 * baseline's value and tolerance, and prints a table.
 *
 * <p>Usage, from the repository root after {@code mvn -B -q -DskipTests package}:
 *
 * <pre>
 * java -cp bench/target/benchmarks.jar io.qcow2.bench.RegressionGate --baseline bench/baseline.json
 *     [--results JMH_JSON] [--out DIR] [--update-baseline]
 * </pre>
 *
 * Exit status: 0 every metric within tolerance, 1 a regression, 2 an error (bad arguments, a
 * metric not measured). {@code --results} compares an existing JMH JSON instead of running (memory
 * is always measured, it takes seconds). {@code --update-baseline} writes the measured values into
 * the baseline file, keeping its tolerances: do it deliberately, after a change that is meant to
 * move a ratio, and commit the file with the change.
 */
public final class RegressionGate {
  static final Path DEFAULT_OUT = Path.of("bench", "target", "gate");

  private RegressionGate() {}

  /** The metrics a new baseline starts from, with their tolerances (see bench/README.md). */
  static final List<Baseline.Metric> DEFAULT_METRICS = List.of(
      ratio("CheckLatencyBenchmark.check structures=100000 writeBytes=512", "windowed", "legacy", 1.5),
      ratio("CheckLatencyBenchmark.check structures=100000 writeBytes=65536", "windowed", "legacy", 1.0),
      ratio("CacheHostileBenchmark.check cache=default structures=10000", "windowed", "legacy", 2.0),
      ratio("ImageWorkloadBenchmark.w1CreatePreallocated w1MiB=512", "windowed", "none", 2.0),
      ratio("ImageWorkloadBenchmark.w1CreatePreallocated w1MiB=512", "windowed", "legacy", 1.0),
      ratio("ImageWorkloadBenchmark.w3RandomWrites w3MiB=64 w3Writes=100000", "windowed", "legacy", 2.0),
      memory("256MiB/512B", "windowed", 0.10),
      memory("64GiB/64KiB", "windowed", 0.10),
      memory("256MiB/512B", "legacy", 0.10));

  static Baseline.Metric ratio(String workload, String strategy, String reference, double tol) {
    return new Baseline.Metric(Baseline.Metric.RATIO, workload, strategy, reference, Double.NaN, 0,
        tol);
  }

  static Baseline.Metric memory(String layout, String strategy, double tol) {
    return new Baseline.Metric(Baseline.Metric.MEMORY, layout, strategy, "", Double.NaN, 0, tol);
  }

  public static void main(String[] argv) throws Exception {
    System.exit(run(argv));
  }

  static int run(String... argv) throws Exception {
    Path baselineFile = null;
    Path resultsFile = null;
    Path out = DEFAULT_OUT;
    boolean update = false;
    try {
      for (int i = 0; i < argv.length; i++) {
        switch (argv[i]) {
          case "--baseline" -> baselineFile = Path.of(AbReport.value(argv, ++i, argv[i - 1]));
          case "--results" -> resultsFile = Path.of(AbReport.value(argv, ++i, argv[i - 1]));
          case "--out" -> out = Path.of(AbReport.value(argv, ++i, argv[i - 1]));
          case "--update-baseline" -> update = true;
          default -> throw new IllegalArgumentException("Unknown option '" + argv[i]
              + "'; options: --baseline FILE, --results FILE, --out DIR, --update-baseline");
        }
      }
      if (baselineFile == null) {
        throw new IllegalArgumentException("--baseline FILE is required");
      }
    } catch (IllegalArgumentException e) {
      System.err.println(e.getMessage());
      return 2;
    }
    Baseline baseline;
    if (Files.exists(baselineFile)) {
      baseline = Baseline.read(baselineFile);
    } else if (update) {
      baseline = new Baseline("Regression gate baseline: ratios measured in one run, memory in "
          + "bytes; a metric fails when measured > value * (1 + tolerance). Update with "
          + "RegressionGate --update-baseline (see bench/README.md).", "", DEFAULT_METRICS);
    } else {
      System.err.println("Baseline " + baselineFile + " not found (create it with --update-baseline)");
      return 2;
    }
    long start = System.nanoTime();
    Files.createDirectories(out);
    List<BenchResult> results;
    if (resultsFile != null) {
      results = BenchResult.readJmhJson(resultsFile);
    } else {
      Path json = out.resolve("gate.json");
      runPlan(baseline, out, json);
      results = BenchResult.readJmhJson(json);
    }
    List<MemoryRecord> memory = MemoryReport.measure(memoryLayouts(baseline), memoryStrategies(baseline));
    GateComparison comparison = GateComparison.compare(baseline, results, memory);
    String table = comparison.toText();
    System.out.print(table);
    System.out.printf("gate took %.0f s%n", (System.nanoTime() - start) / 1e9);
    Files.writeString(out.resolve("gate.txt"), table);
    if (update) {
      Baseline updated = comparison.updatedBaseline(baseline, Machine.describe());
      Files.writeString(baselineFile, updated.toJson());
      System.out.println("Updated " + baselineFile + "; review the diff and commit it.");
      return 0;
    }
    return comparison.exitCode();
  }

  /** Runs every benchmark the baseline's ratio metrics name, with exactly their params. */
  static void runPlan(Baseline baseline, Path out, Path json) throws Exception {
    Map<String, Map<String, Set<String>>> plan = plan(baseline);
    List<String> parts = new ArrayList<>();
    for (Map.Entry<String, Map<String, Set<String>>> entry : plan.entrySet()) {
      Map<String, String[]> params = new LinkedHashMap<>();
      List<String> strategies = null;
      for (Map.Entry<String, Set<String>> p : entry.getValue().entrySet()) {
        if (p.getKey().equals(BenchResult.STRATEGY)) {
          strategies = new ArrayList<>(p.getValue());
        } else {
          params.put(p.getKey(), p.getValue().toArray(new String[0]));
        }
      }
      Path part = out.resolve("gate-" + entry.getKey() + ".json");
      SuiteRunner.run(new SuiteRunner.Selection(Profile.CI,
          Pattern.compile("^" + Pattern.quote("io.qcow2.bench." + entry.getKey()) + "$"),
          strategies, params), out, part);
      parts.add(Files.readString(part));
    }
    Files.writeString(json, SuiteRunner.mergeJmhJson(parts));
  }

  /** Benchmark short name → param → values, from the ratio metrics' workloads. */
  static Map<String, Map<String, Set<String>>> plan(Baseline baseline) {
    Map<String, Map<String, Set<String>>> plan = new LinkedHashMap<>();
    for (Baseline.Metric m : baseline.metrics()) {
      if (!m.kind().equals(Baseline.Metric.RATIO)) {
        continue;
      }
      String[] words = m.workload().split(" ");
      Map<String, Set<String>> params = plan.computeIfAbsent(words[0], k -> new LinkedHashMap<>());
      Set<String> strategies = params.computeIfAbsent(BenchResult.STRATEGY, k -> new TreeSet<>(Strategies.ORDER));
      strategies.add(m.strategy());
      strategies.add(m.reference());
      for (int i = 1; i < words.length; i++) {
        int eq = words[i].indexOf('=');
        if (eq < 0) {
          throw new IllegalArgumentException("baseline workload '" + m.workload()
              + "': expected name=value after the benchmark name, got '" + words[i] + "'");
        }
        params.computeIfAbsent(words[i].substring(0, eq), k -> new LinkedHashSet<>())
            .add(words[i].substring(eq + 1));
      }
    }
    return plan;
  }

  static List<MemoryReport.Layout> memoryLayouts(Baseline baseline) {
    Set<String> names = new LinkedHashSet<>();
    for (Baseline.Metric m : baseline.metrics()) {
      if (m.kind().equals(Baseline.Metric.MEMORY)) {
        names.add(m.workload());
      }
    }
    List<MemoryReport.Layout> layouts = new ArrayList<>();
    for (String name : names) {
      String[] parts = name.split("/");
      if (parts.length != 2) {
        throw new IllegalArgumentException("memory layout '" + name + "' is not IMAGE/CLUSTER");
      }
      long cluster = parseSize(parts[1]);
      layouts.add(MemoryReport.Layout.of(parseSize(parts[0]), Long.numberOfTrailingZeros(cluster)));
    }
    return layouts;
  }

  static List<String> memoryStrategies(Baseline baseline) {
    Set<String> strategies = new TreeSet<>(Strategies.ORDER);
    for (Baseline.Metric m : baseline.metrics()) {
      if (m.kind().equals(Baseline.Metric.MEMORY)) {
        strategies.add(m.strategy());
      }
    }
    return new ArrayList<>(strategies);
  }

  /** Parses {@code 512B}, {@code 64KiB}, {@code 2GiB}, ... */
  static long parseSize(String text) {
    String[] units = {"PiB", "TiB", "GiB", "MiB", "KiB", "B"};
    int[] shifts = {50, 40, 30, 20, 10, 0};
    for (int i = 0; i < units.length; i++) {
      if (text.endsWith(units[i])) {
        return Long.parseLong(text.substring(0, text.length() - units[i].length())) << shifts[i];
      }
    }
    throw new IllegalArgumentException("size '" + text + "' has no unit (B, KiB, MiB, ...)");
  }
}

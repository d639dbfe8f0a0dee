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
import io.qcow2.overlap.OverlapCheckers;

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
 *     [--substitute windowed=NAME] [--results JMH_JSON] [--out DIR] [--update-baseline [--runs N]]
 * </pre>
 *
 * Exit status: 0 every metric within tolerance, 1 a regression, 2 an error (bad arguments, a
 * metric not measured). {@code --results} compares an existing JMH JSON instead of running (memory
 * is always measured, it takes seconds). {@code --substitute windowed=NAME} measures strategy NAME
 * wherever the baseline names windowed ("would mine regress against the baseline?").
 * {@code --update-baseline} measures N times ({@code --runs}, default 5) and writes values and
 * tolerances from the runs' spread ({@link GateComparison#calibrated}): do it deliberately, after
 * a change that is meant to move a metric, and commit the file with the change.
 */
public final class RegressionGate {
  static final Path DEFAULT_OUT = Path.of("bench", "target", "gate");

  private RegressionGate() {}

  /**
   * The metrics a new baseline starts from (see bench/README.md for why these). No micro ratio:
   * windowed/legacy check latency spreads over a factor of ~3 between runs on a shared machine
   * (legacy's 10^5-structure scans compete for the caches), so its 99 % limit could only catch what
   * the W1 and W3 shares catch far more tightly.
   */
  static final List<Baseline.Metric> DEFAULT_METRICS = List.of(
      share("ImageWorkloadBenchmark.w1CreatePreallocated w1MiB=256", "windowed", 1),
      share("ImageWorkloadBenchmark.w3RandomWrites w3MiB=64 w3Writes=50000", "windowed", 1),
      ratio("ImageWorkloadBenchmark.w3RandomWrites w3MiB=64 w3Writes=50000", "windowed", "none", 1),
      memory("256MiB/512B", "windowed", 0.10),
      memory("64GiB/64KiB", "windowed", 0.10),
      memory("256MiB/512B", "legacy", 0.10));

  /** Repeated measurements a baseline's tolerances are calibrated from, unless --runs says. */
  static final int DEFAULT_CALIBRATION_RUNS = 5;

  static Baseline.Metric share(String workload, String strategy, double tol) {
    return new Baseline.Metric(Baseline.Metric.SHARE, workload, strategy, "", Double.NaN, 0, tol);
  }

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
    int runs = DEFAULT_CALIBRATION_RUNS;
    Map<String, String> substitutes = new LinkedHashMap<>();
    try {
      for (int i = 0; i < argv.length; i++) {
        switch (argv[i]) {
          case "--baseline" -> baselineFile = Path.of(AbReport.value(argv, ++i, argv[i - 1]));
          case "--results" -> resultsFile = Path.of(AbReport.value(argv, ++i, argv[i - 1]));
          case "--out" -> out = Path.of(AbReport.value(argv, ++i, argv[i - 1]));
          case "--update-baseline" -> update = true;
          case "--runs" -> runs = Integer.parseInt(AbReport.value(argv, ++i, argv[i - 1]));
          case "--substitute" -> {
            String[] pair = AbReport.value(argv, ++i, argv[i - 1]).split("=", -1);
            if (pair.length != 2 || pair[0].isEmpty() || pair[1].isEmpty()) {
              throw new IllegalArgumentException("--substitute needs BASELINE_NAME=MEASURED_NAME,"
                  + " e.g. windowed=mine; got '" + argv[i] + "'");
            }
            OverlapCheckers.load(pair[1]); // fails fast with the names found
            substitutes.put(pair[0], pair[1]);
          }
          default -> throw new IllegalArgumentException("Unknown option '" + argv[i]
              + "'; options: --baseline FILE, --results FILE, --out DIR, --substitute A=B, "
              + "--update-baseline, --runs N");
        }
      }
      if (baselineFile == null) {
        throw new IllegalArgumentException("--baseline FILE is required");
      }
      if (update && (runs < 2 || resultsFile != null || !substitutes.isEmpty())) {
        throw new IllegalArgumentException("--update-baseline measures the tolerances from "
            + "--runs N >= 2 fresh runs of the strategies themselves (no --results, no --substitute)");
      }
    } catch (IllegalArgumentException e) {
      System.err.println(e.getMessage());
      return 2;
    }
    Baseline baseline;
    if (Files.exists(baselineFile)) {
      baseline = Baseline.read(baselineFile);
    } else if (update) {
      baseline = new Baseline("Regression gate baseline: a metric fails when measured > value * "
          + "(1 + tolerance); tolerances are one-sided 99 % prediction limits from repeated runs. "
          + "Update with RegressionGate --update-baseline (see bench/README.md).", "",
          DEFAULT_METRICS);
    } else {
      System.err.println("Baseline " + baselineFile + " not found (create it with --update-baseline)");
      return 2;
    }
    long start = System.nanoTime();
    Files.createDirectories(out);
    List<GateComparison> measured = new ArrayList<>();
    for (int run = 1; run <= (update ? runs : 1); run++) {
      List<BenchResult> results;
      if (resultsFile != null) {
        results = BenchResult.readJmhJson(resultsFile);
      } else {
        if (update) {
          System.err.printf("calibration run %d of %d ...%n", run, runs);
        }
        Path json = out.resolve(update ? "gate-run" + run + ".json" : "gate.json");
        runPlan(baseline, substitutes, out, json);
        results = BenchResult.readJmhJson(json);
      }
      List<MemoryRecord> memory = MemoryReport.measure(memoryLayouts(baseline),
          substituted(memoryStrategies(baseline), substitutes));
      GateComparison comparison = GateComparison.compare(baseline,
          asBaselineNames(results, substitutes), asBaselineMemory(memory, substitutes));
      measured.add(comparison);
      String table = (substitutes.isEmpty() ? "" : "measured " + substitutes
          + " in place of the baseline's strategies\n") + comparison.toText();
      System.out.print(table);
      Files.writeString(out.resolve("gate.txt"), table);
    }
    System.out.printf("gate took %.0f s%n", (System.nanoTime() - start) / 1e9);
    if (update) {
      Baseline updated = GateComparison.calibrated(baseline, measured,
          Machine.describe() + "; calibrated from " + runs + " runs");
      Files.writeString(baselineFile, updated.toJson());
      System.out.println("Updated " + baselineFile + "; review the diff and commit it.");
      return 0;
    }
    return measured.get(0).exitCode();
  }

  /** The strategies with every baseline name that has a substitute replaced by it. */
  static List<String> substituted(List<String> strategies, Map<String, String> substitutes) {
    List<String> out = new ArrayList<>();
    for (String s : strategies) {
      out.add(substitutes.getOrDefault(s, s));
    }
    return out;
  }

  /** Results with every substitute's name turned back into the baseline name it stands for. */
  static List<BenchResult> asBaselineNames(List<BenchResult> results, Map<String, String> substitutes) {
    Map<String, String> back = inverse(substitutes);
    List<BenchResult> out = new ArrayList<>();
    for (BenchResult r : results) {
      String name = back.get(r.strategy());
      if (name == null) {
        out.add(r);
      } else {
        Map<String, String> params = new LinkedHashMap<>(r.params());
        params.put(BenchResult.STRATEGY, name);
        out.add(new BenchResult(r.benchmark(), r.mode(), params, r.score(), r.error(), r.unit(),
            r.median(), r.secondary()));
      }
    }
    return out;
  }

  private static List<MemoryRecord> asBaselineMemory(List<MemoryRecord> memory,
      Map<String, String> substitutes) {
    Map<String, String> back = inverse(substitutes);
    List<MemoryRecord> out = new ArrayList<>();
    for (MemoryRecord m : memory) {
      out.add(back.containsKey(m.strategy()) ? m.withStrategy(back.get(m.strategy())) : m);
    }
    return out;
  }

  private static Map<String, String> inverse(Map<String, String> substitutes) {
    Map<String, String> back = new LinkedHashMap<>();
    substitutes.forEach((from, to) -> back.put(to, from));
    return back;
  }

  /** Runs every benchmark the baseline's ratio and share metrics name, with exactly their params. */
  static void runPlan(Baseline baseline, Map<String, String> substitutes, Path out, Path json)
      throws Exception {
    Map<String, Map<String, Set<String>>> plan = plan(baseline);
    List<String> parts = new ArrayList<>();
    for (Map.Entry<String, Map<String, Set<String>>> entry : plan.entrySet()) {
      Map<String, String[]> params = new LinkedHashMap<>();
      List<String> strategies = null;
      for (Map.Entry<String, Set<String>> p : entry.getValue().entrySet()) {
        if (p.getKey().equals(BenchResult.STRATEGY)) {
          strategies = substituted(new ArrayList<>(p.getValue()), substitutes);
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
      if (m.kind().equals(Baseline.Metric.MEMORY)) {
        continue;
      }
      String[] words = m.workload().split(" ");
      Map<String, Set<String>> params = plan.computeIfAbsent(words[0], k -> new LinkedHashMap<>());
      Set<String> strategies = params.computeIfAbsent(BenchResult.STRATEGY, k -> new TreeSet<>(Strategies.ORDER));
      strategies.add(m.strategy());
      if (m.kind().equals(Baseline.Metric.RATIO)) {
        strategies.add(m.reference());
      }
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

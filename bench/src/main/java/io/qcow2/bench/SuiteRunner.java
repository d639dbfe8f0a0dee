package io.qcow2.bench;

import io.qcow2.overlap.OverlapCheckers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Runs the suite through JMH's Java API: one {@link Runner} per benchmark class (each class has
 * its own param ranges in a profile), forked, results merged into one JMH JSON file.
 */
final class SuiteRunner {
  /**
   * Every benchmark of the suite, fully qualified; a test checks this against the list JMH's
   * annotation processor generated.
   */
  static final List<String> BENCHMARKS = List.of(
      "io.qcow2.bench.CheckLatencyBenchmark.check",
      "io.qcow2.bench.EnterRemoveBenchmark.enterRemove",
      "io.qcow2.bench.CacheHostileBenchmark.check",
      "io.qcow2.bench.ImageWorkloadBenchmark.w1CreatePreallocated",
      "io.qcow2.bench.ImageWorkloadBenchmark.w2SequentialWrites",
      "io.qcow2.bench.ImageWorkloadBenchmark.w3RandomWrites",
      "io.qcow2.bench.ImageWorkloadBenchmark.w4SnapshotWrites");

  static final String W4 = "io.qcow2.bench.ImageWorkloadBenchmark.w4SnapshotWrites";

  /**
   * What to run.
   *
   * @param include a regex; benchmarks whose name it finds run (null: all)
   * @param strategies the strategy param values (null: each benchmark's own list)
   * @param params extra param overrides for every class, applied after the profile's
   */
  record Selection(Profile profile, Pattern include, List<String> strategies,
      Map<String, String[]> params) {}

  private SuiteRunner() {}

  /** The benchmarks {@code include} selects, in suite order. */
  static List<String> select(Pattern include) {
    List<String> selected = new ArrayList<>();
    for (String name : BENCHMARKS) {
      if (include == null || include.matcher(name).find()) {
        selected.add(name);
      }
    }
    return selected;
  }

  /**
   * The strategies the selection runs: its own list, else {@link Strategies#names()}, found now on
   * the class path and the strategy path.
   */
  static List<String> strategies(Selection selection) {
    return selection.strategies() != null ? selection.strategies() : Strategies.names();
  }

  /**
   * Runs the selection; JMH's log and JSON of each benchmark go to {@code outDir/jmh-Class.method.*},
   * merged into {@code json}. Returns one warning per benchmark and strategy that produced no
   * score (it threw; JMH's log has the stack trace).
   *
   * @throws IllegalArgumentException if the selection matches no benchmark
   */
  static List<String> run(Selection selection, Path outDir, Path json)
      throws IOException, RunnerException {
    List<String> warnings = new ArrayList<>();
    List<String> selected = select(selection.include());
    if (QemuImg.find() == null && selected.remove(W4)) {
      System.err.println("qemu-img not found: skipping " + W4 + " (its snapshots are made with"
          + " qemu-img snapshot -c)");
    }
    // A benchmarks.jar shaded without ServicesResourceTransformer keeps one strategy's services
    // file only: fail here rather than measure a missing strategy.
    List<String> wanted = strategies(selection);
    for (String strategy : wanted) {
      if (!strategy.equals(Strategies.NONE)) {
        OverlapCheckers.load(strategy); // fails fast, listing the strategies found
      }
    }
    if (selected.isEmpty()) {
      throw new IllegalArgumentException("No benchmark matches '" + selection.include()
          + "'; available: " + String.join(", ", BENCHMARKS));
    }
    Files.createDirectories(outDir);
    List<String> parts = new ArrayList<>();
    for (String benchmark : selected) {
      String className = benchmark.substring(0, benchmark.lastIndexOf('.'));
      String simple = className.substring(className.lastIndexOf('.') + 1);
      boolean macro = Workloads.isMacro(benchmark);
      Profile.Timing timing = macro ? selection.profile().macro() : selection.profile().micro();
      String stem = "jmh-" + benchmark.substring(className.length() - simple.length());
      Path part = outDir.resolve(stem + ".json");
      Path log = outDir.resolve(stem + ".log");
      ChainedOptionsBuilder options = new OptionsBuilder()
          .include("^" + Pattern.quote(benchmark) + "$")
          .forks(timing.forks())
          .warmupIterations(timing.warmupIterations())
          .measurementIterations(timing.iterations())
          // A strategy that throws (e.g. refuses a write as an overlap) must not hide the others'
          // results; the missing scores are reported below and in the report's header.
          .shouldFailOnError(false)
          .output(log.toString())
          .result(part.toString())
          .resultFormat(ResultFormatType.JSON);
      // Prepend, in one call: jvmArgsAppend would replace the classes' @Fork(jvmArgsAppend = ...),
      // and each jvmArgsPrepend call replaces the previous one's arguments (a strategy path once
      // dropped the paired passes, so outside strategies were measured without the in-situ floor).
      List<String> forkProperties = new ArrayList<>();
      if (macro) {
        options.addProfiler(ProbeProfiler.class);
        if (selection.profile().pairedNone()) {
          forkProperties.add("-D" + ImageWorkloadBenchmark.PAIRED_NONE_PROPERTY + "=true");
        }
      } else {
        options.warmupTime(TimeValue.milliseconds(timing.warmupMillis()))
            .measurementTime(TimeValue.milliseconds(timing.measureMillis()));
      }
      // OptionsBuilder.param adds to a value list, so merge overrides before applying them once.
      Map<String, String[]> params = new LinkedHashMap<>(selection.profile().params(simple));
      if (selection.params() != null) {
        params.putAll(selection.params());
      }
      params.forEach(options::param);
      // The strategies are found now, not listed at compile time; the forks must see the same
      // strategy path to find the loaded ones.
      options.param(BenchResult.STRATEGY, wanted.toArray(new String[0]));
      String strategyPath = System.getProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY);
      if (strategyPath != null && !strategyPath.isEmpty()) {
        forkProperties.add("-D" + OverlapCheckers.STRATEGY_PATH_PROPERTY + "=" + strategyPath);
      }
      if (!forkProperties.isEmpty()) {
        options.jvmArgsPrepend(forkProperties.toArray(new String[0]));
      }
      long start = System.nanoTime();
      System.err.printf("running %s (log: %s) ...%n", benchmark, log);
      new Runner(options.build()).run();
      System.err.printf("  done in %.1f s%n", (System.nanoTime() - start) / 1e9);
      String text = Files.exists(part) ? Files.readString(part) : "[]";
      parts.add(text);
      Set<String> found = new TreeSet<>();
      for (BenchResult r : BenchResult.parseJmhJson(text)) {
        found.add(r.strategy());
      }
      for (String strategy : wanted) {
        if (!found.contains(strategy)) {
          String warning = String.format("FAILED: %s strategy=%s produced no score (see %s)",
              benchmark.substring(className.length() - simple.length()), strategy, log);
          System.err.println("  " + warning);
          warnings.add(warning);
        }
      }
    }
    Files.writeString(json, mergeJmhJson(parts));
    return warnings;
  }

  /** Concatenates JMH JSON arrays, keeping JMH's text of every run unchanged. */
  static String mergeJmhJson(List<String> parts) {
    List<String> bodies = new ArrayList<>();
    for (String part : parts) {
      String trimmed = part.strip();
      if (!trimmed.startsWith("[") || !trimmed.endsWith("]")) {
        throw new IllegalArgumentException("not a JMH JSON array: " + trimmed);
      }
      String body = trimmed.substring(1, trimmed.length() - 1).strip();
      if (!body.isEmpty()) {
        bodies.add(body);
      }
    }
    return "[\n" + String.join(",\n", bodies) + "\n]\n";
  }
}

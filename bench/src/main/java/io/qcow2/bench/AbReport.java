package io.qcow2.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The A/B report: runs the suite (quick profile by default) with JMH, forked, then prints the table
 * (workload, strategy, score ± error, ratio to legacy, overlap share of the macro workloads) and
 * writes into the output directory:
 *
 * <ul>
 *   <li>{@code ab-report.json}: the JMH JSON of every run;
 *   <li>{@code ab-report-memory.json}: the memory step's records;
 *   <li>{@code ab-report.txt}: the printed tables;
 *   <li>{@code ab-report.html}: the same as one self-contained page with the scaling curves.
 * </ul>
 *
 * <p>Usage, from the repository root after {@code mvn -B -q -DskipTests package}:
 *
 * <pre>
 * java -cp bench/target/benchmarks.jar io.qcow2.bench.AbReport
 *     [--profile quick|full] [--include REGEX] [--strategies none,legacy,windowed]
 *     [--out DIR] [--results FILE] [--no-memory] [--no-qemu]
 * </pre>
 *
 * Where W1 ran and {@code qemu-img} is installed, the same workload is also timed with qemu-img in
 * the same run and shown as a clearly labelled outside reference ({@code --no-qemu} skips it).
 * {@code --results} renders a report from an existing JMH JSON file without running anything.
 */
public final class AbReport {
  static final Path DEFAULT_OUT = Path.of("bench", "target", "report");

  private AbReport() {}

  /** Parsed command line. */
  record Args(Profile profile, Pattern include, List<String> strategies, Path out, Path results,
      boolean memory, boolean qemu) {
    static Args parse(String... args) {
      Profile profile = Profile.QUICK;
      Pattern include = null;
      List<String> strategies = null;
      Path out = DEFAULT_OUT;
      Path results = null;
      boolean memory = true;
      boolean qemu = true;
      for (int i = 0; i < args.length; i++) {
        String arg = args[i];
        switch (arg) {
          case "--profile" -> profile = Profile.parse(value(args, ++i, arg));
          case "--include" -> include = Pattern.compile(value(args, ++i, arg));
          case "--strategies" -> strategies = Arrays.asList(value(args, ++i, arg).split(","));
          case "--out" -> out = Path.of(value(args, ++i, arg));
          case "--results" -> results = Path.of(value(args, ++i, arg));
          case "--no-memory" -> memory = false;
          case "--no-qemu" -> qemu = false;
          default -> throw new IllegalArgumentException("Unknown option '" + arg + "'; options: "
              + "--profile quick|full, --include REGEX, --strategies a,b, --out DIR, "
              + "--results FILE, --no-memory, --no-qemu");
        }
      }
      return new Args(profile, include, strategies, out, results, memory, qemu);
    }
  }

  static String value(String[] args, int i, String option) {
    if (i >= args.length) {
      throw new IllegalArgumentException(option + " needs a value");
    }
    return args[i];
  }

  public static void main(String[] argv) throws Exception {
    Args args;
    try {
      args = Args.parse(argv);
    } catch (IllegalArgumentException e) {
      System.err.println(e.getMessage());
      System.exit(2);
      return;
    }
    Instant start = Instant.now();
    Files.createDirectories(args.out());
    Path json = args.out().resolve("ab-report.json");
    Path warningsFile = args.out().resolve("ab-report-warnings.txt");
    if (args.results() == null) {
      List<String> warnings = SuiteRunner.run(new SuiteRunner.Selection(args.profile(),
          args.include(), args.strategies(), null), args.out(), json);
      Files.write(warningsFile, warnings);
    } else if (!args.results().toAbsolutePath().equals(json.toAbsolutePath())) {
      Files.copy(args.results(), json, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }
    List<BenchResult> results = new ArrayList<>(BenchResult.readJmhJson(json));
    Path outside = args.out().resolve("ab-report-outside.json");
    if (args.results() == null && args.qemu()) {
      System.err.println("measuring QEMU's W1 and W3 (outside reference) ...");
      List<BenchResult> reference = OutsideReference.measure(results);
      Files.writeString(outside, BenchResult.toJmhLikeJson(reference));
    }
    if (Files.exists(outside)) {
      results.addAll(BenchResult.readJmhJson(outside));
    }
    List<MemoryRecord> memory = List.of();
    if (args.memory()) {
      System.err.println("measuring memory ...");
      memory = MemoryReport.measure(args.profile().memoryLayouts(),
          args.strategies() != null ? args.strategies() : Strategies.names());
      Files.writeString(args.out().resolve("ab-report-memory.json"), MemoryReport.toJson(memory));
    }
    List<String> context = context(args, start);
    if (args.results() == null && Files.exists(warningsFile)) {
      context.addAll(Files.readAllLines(warningsFile));
    }
    ReportTable table = ReportTable.of(results);
    StringBuilder text = new StringBuilder();
    context.forEach(line -> text.append(line).append('\n'));
    text.append('\n').append(Headline.toText(Headline.of(results)));
    text.append('\n').append(table.toText());
    if (!memory.isEmpty()) {
      text.append("\nMemory (fully populated, metadata-preallocated images):\n")
          .append(MemoryReport.toText(memory));
    }
    System.out.print(text);
    Files.writeString(args.out().resolve("ab-report.txt"), text);
    Files.writeString(args.out().resolve("ab-report.html"),
        HtmlReport.render("qcow2 overlap checks: A/B report", context, table, results, memory));
    Files.writeString(args.out().resolve("ab-summary.json"), AbSummary.toJson(results));
    System.out.printf("%nWrote %s, ab-summary.json, ab-report.html, ab-report.txt in %s%n",
        json.getFileName(), args.out());
  }

  static List<String> context(Args args, Instant start) {
    List<String> lines = new ArrayList<>();
    lines.add("Profile: " + args.profile().label()
        + (args.results() != null ? " (rendered from " + args.results() + ")" : "")
        + (args.include() != null ? ", include " + args.include() : "")
        + (args.strategies() != null ? ", strategies " + String.join(",", args.strategies()) : ""));
    lines.add("Run: " + start.truncatedTo(ChronoUnit.SECONDS) + ", took "
        + (Instant.now().getEpochSecond() - start.getEpochSecond()) + " s");
    lines.add("Machine: " + Machine.describe());
    lines.add("Ratios are to the legacy strategy in the same run; direct share = CPU time inside"
        + " the strategy / CPU time of the workload thread (probe); share vs none (wall) ="
        + " (t - t_none) / t of the wall-clock scores of separate forks, clamped at 0 (the answer's"
        + " 'vs none' pairs each iteration with a none pass in the same JVM instead); errors are"
        + " 99.9 % half-widths, propagated.");
    return lines;
  }
}

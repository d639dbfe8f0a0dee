package io.qcow2.overlap.tck;

import io.qcow2.overlap.OverlapCheckerProvider;
import io.qcow2.overlap.OverlapCheckers;
import java.io.File;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.discovery.DiscoverySelectors;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.TestPlan;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The runnable conformance kit: {@code java -jar overlap-tck.jar --strategy-path DIR --strategy
 * NAME [--operations N] [--seed S]}. It runs {@link OverlapCheckerConformanceTest} (the contract
 * tests and the differential runs against the {@link ReferenceModel}) for the named strategy,
 * built in or loaded from the strategy path, then the {@link ResourceProbes}; it prints each
 * failure, each probe's figures and warnings, and a closing line {@code N passed, M failed}.
 *
 * <p>Exit status: 0 when everything passed, 1 when something failed, 2 for a usage error or a
 * strategy that cannot be loaded. The verdict is about answers only: probe figures beyond their
 * thresholds are warnings.
 */
@Command(name = "overlap-tck", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Runs the overlap-check conformance suite, the differential run against the "
        + "reference model and resource probes for one strategy.")
public final class ConformanceKit implements Callable<Integer> {
  static final int EXIT_FAILED = 1;
  static final int EXIT_USAGE = 2;

  @Option(names = "--strategy-path", paramLabel = "DIR",
      description = "Directories (or jars) whose jars hold strategies; repeatable, or a list "
          + "separated as the class path is.")
  List<String> strategyPath = new ArrayList<>();

  @Option(names = "--strategy", paramLabel = "NAME", required = true,
      description = "The strategy to check, by name.")
  String strategy;

  @Option(names = "--operations", paramLabel = "N",
      description = "Operations per differential run (three runs); default: ${DEFAULT-VALUE}.")
  long operations = DifferentialRun.DEFAULT_OPERATIONS;

  @Option(names = "--seed", paramLabel = "S", description = "Seed of the differential runs; "
      + "default: ${DEFAULT-VALUE}.")
  long seed = DifferentialRun.DEFAULT_SEED;

  @Option(names = "--failure-dir", paramLabel = "DIR",
      description = "Where a failing differential run writes its seed and operations; default: "
          + "the current directory.")
  Path failureDirectory = Path.of(".");

  @Option(names = "--probe-seconds", paramLabel = "S",
      description = "Time limit of each resource probe; default: ${DEFAULT-VALUE}.")
  long probeSeconds = 20;

  @Option(names = "--test-seconds", paramLabel = "S", description = "Time limit of each test of "
      + "the suite (a test past it fails); default: ${DEFAULT-VALUE}.")
  long testSeconds = 600;

  private PrintWriter out;

  /** Runs the kit and exits with its status. */
  public static void main(String[] args) {
    PrintWriter out = new PrintWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8));
    PrintWriter err = new PrintWriter(new OutputStreamWriter(System.err, StandardCharsets.UTF_8));
    int status = execute(args, out, err);
    System.exit(status);
  }

  /**
   * Runs the kit with the given streams and returns its exit status; never exits. The system
   * property {@value OverlapCheckers#STRATEGY_PATH_PROPERTY} is restored afterwards.
   */
  public static int execute(String[] args, PrintWriter out, PrintWriter err) {
    ConformanceKit kit = new ConformanceKit();
    kit.out = out;
    CommandLine commandLine = new CommandLine(kit);
    commandLine.setOut(out);
    commandLine.setErr(err);
    commandLine.setParameterExceptionHandler((e, arguments) -> {
      err.println("overlap-tck: " + e.getMessage());
      err.flush();
      return EXIT_USAGE;
    });
    commandLine.setExecutionExceptionHandler((e, line, parseResult) -> {
      err.println("overlap-tck: " + e.getMessage());
      if (!(e instanceof IllegalArgumentException)) {
        e.printStackTrace(err);
      }
      err.flush();
      return EXIT_USAGE;
    });
    String savedPath = System.getProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY);
    try {
      return commandLine.execute(args);
    } finally {
      if (savedPath == null) {
        System.clearProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY);
      } else {
        System.setProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY, savedPath);
      }
      out.flush();
      err.flush();
    }
  }

  @Override
  public Integer call() {
    if (operations < 1) {
      throw new IllegalArgumentException("--operations must be at least 1, was " + operations);
    }
    if (!strategyPath.isEmpty()) {
      String path = String.join(File.pathSeparator, strategyPath);
      String inherited = System.getProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY);
      System.setProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY,
          inherited == null || inherited.isEmpty() ? path : path + File.pathSeparator + inherited);
    }
    OverlapCheckerProvider provider = OverlapCheckers.load(strategy);
    Optional<Path> origin = OverlapCheckers.origin(strategy);
    out.printf("overlap-tck: strategy '%s' (%s, %s), seed %d, %d operations per differential run%n",
        strategy, provider.getClass().getName(), origin.map(Path::toString).orElse("unknown origin"),
        seed, operations);
    out.flush();
    Tally tally = runSuite(provider);
    for (ResourceProbes.Outcome probe : ResourceProbes.run(provider::create,
        Duration.ofSeconds(probeSeconds))) {
      out.printf("probe %s: %s%n", probe.name(), probe.figures().isEmpty()
          ? "(no phase completed)" : String.join(", ", probe.figures()));
      probe.warnings().forEach(w -> out.printf("WARNING: probe %s: %s%n", probe.name(), w));
      if (probe.failures().isEmpty()) {
        tally.passed++;
      } else {
        tally.failed++;
        probe.failures().forEach(f -> out.printf("FAILED probe %s: %s%n", probe.name(), f));
      }
    }
    out.printf("%d passed, %d failed%n", tally.passed, tally.failed);
    out.flush();
    return tally.failed == 0 ? 0 : EXIT_FAILED;
  }

  private static final class Tally {
    long passed;
    long failed;
  }

  /**
   * Runs the JUnit suite through the JUnit Platform Launcher, so that the kit runs exactly the
   * tests the in-repo strategies run; each test is limited to {@link #testSeconds} in a thread of
   * its own, which JUnit abandons when the limit passes.
   */
  private Tally runSuite(OverlapCheckerProvider provider) {
    SelectedStrategyConformance.select(new SelectedStrategyConformance.Selection(
        strategy, provider, seed, operations, failureDirectory));
    LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
        .selectors(DiscoverySelectors.selectClass(SelectedStrategyConformance.class))
        .configurationParameter("junit.jupiter.execution.timeout.default", testSeconds + " s")
        .configurationParameter("junit.jupiter.execution.timeout.thread.mode.default",
            "SEPARATE_THREAD")
        .build();
    Tally tally = new Tally();
    Launcher launcher = LauncherFactory.create();
    launcher.execute(request, new TestExecutionListener() {
      private TestPlan plan;

      @Override
      public void testPlanExecutionStarted(TestPlan testPlan) {
        plan = testPlan;
      }

      @Override
      public void executionFinished(TestIdentifier test, TestExecutionResult result) {
        boolean failed = result.getStatus() != TestExecutionResult.Status.SUCCESSFUL;
        if (!test.isTest() && !failed) {
          return;
        }
        if (failed) {
          tally.failed++;
          out.printf("FAILED %s: %s%n", describe(test),
              result.getThrowable().map(String::valueOf).orElse(result.getStatus().toString()));
        } else {
          tally.passed++;
        }
        out.flush();
      }

      /** A parameterised test's invocation is named after its method, e.g. "method(int) [1] ...". */
      private String describe(TestIdentifier test) {
        Optional<TestIdentifier> parent = plan.getParent(test);
        if (parent.isPresent()
            && parent.get().getSource().filter(MethodSource.class::isInstance).isPresent()) {
          return parent.get().getDisplayName() + " " + test.getDisplayName();
        }
        return test.getDisplayName();
      }
    });
    out.printf("suite: %d passed, %d failed%n", tally.passed, tally.failed);
    return tally;
  }
}

package io.qcow2.overlap.tck;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Time and memory of a strategy on valid but extreme input, for the runnable kit. Figures are
 * reported, and a figure beyond its threshold is a warning, never a failure: a correct but slow
 * strategy is told so without failing. A wrong answer (or an exception on valid input) is a
 * failure like any other. Each probe runs in its own daemon thread, abandoned after the time
 * limit, so a strategy that never returns cannot hang the kit.
 */
final class ResourceProbes {
  /** A phase slower than this is a warning. */
  static final Duration SLOW_PHASE = Duration.ofSeconds(1);
  /** A checker holding more than this ({@link OverlapChecker#memoryBytes()}) is a warning. */
  static final long LARGE_MEMORY = 64L << 20;

  /** What one probe found: its figures, warnings, and wrong answers. */
  record Outcome(String name, List<String> figures, List<String> warnings, List<String> failures) {}

  private ResourceProbes() {}

  /** Runs every probe against {@code strategy}, each limited to {@code limit}. */
  static List<Outcome> run(Function<OverlapCheckerSetup, OverlapChecker> strategy, Duration limit) {
    return List.of(
        run("huge range", limit, probe -> hugeRange(strategy, probe)),
        run("many structures", limit, probe -> manyStructures(strategy, probe)));
  }

  private interface Body {
    void run(Probe probe);
  }

  /**
   * The figures a probe thread publishes as it goes, read after the join or the abandonment; once
   * closed, an abandoned thread's later findings are dropped.
   */
  private static final class Probe {
    final String name;
    final List<String> figures = new ArrayList<>();
    final List<String> warnings = new ArrayList<>();
    final List<String> failures = new ArrayList<>();
    private boolean closed;

    Probe(String name) {
      this.name = name;
    }

    /** Times {@code phase}, publishing its figure and a warning if it was slow. */
    synchronized void figure(String phase, long nanos) {
      if (closed) {
        return;
      }
      String figure = String.format("%s %.3f ms", phase, nanos / 1e6);
      figures.add(figure);
      if (nanos > SLOW_PHASE.toNanos()) {
        warnings.add("slow: " + figure + " (over " + SLOW_PHASE.toMillis() + " ms)");
      }
    }

    synchronized void memory(OverlapChecker checker) {
      if (closed) {
        return;
      }
      long bytes = checker.memoryBytes();
      figures.add("memoryBytes " + bytes);
      if (bytes > LARGE_MEMORY) {
        warnings.add(String.format("large: memoryBytes %d (over %d MiB)", bytes, LARGE_MEMORY >> 20));
      }
    }

    synchronized void expect(String what, int expected, int actual) {
      if (closed) {
        return;
      }
      if (expected != actual) {
        failures.add(String.format("%s expected [%s] but was [%s]", what,
            MetadataType.describe(expected), MetadataType.describe(actual)));
      }
    }

    synchronized void failed(String what) {
      if (closed) {
        return;
      }
      failures.add(what);
    }

    synchronized void warned(String what) {
      if (closed) {
        return;
      }
      warnings.add(what);
    }

    /** The outcome so far, with {@code warning} added if not null; nothing is recorded after. */
    synchronized Outcome close(String warning) {
      if (warning != null) {
        warnings.add(warning);
      }
      closed = true;
      return new Outcome(name, List.copyOf(figures), List.copyOf(warnings), List.copyOf(failures));
    }
  }

  private static Outcome run(String name, Duration limit, Body body) {
    Probe probe = new Probe(name);
    Thread thread = new Thread(() -> {
      try {
        body.run(probe);
      } catch (OutOfMemoryError e) {
        probe.warned("out of memory: " + e.getMessage());
      } catch (RuntimeException | AssertionError e) {
        probe.failed("threw on valid input: " + e);
      }
    }, "overlap-tck-probe-" + name);
    thread.setDaemon(true);
    thread.start();
    try {
      thread.join(limit.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (!thread.isAlive()) {
      return probe.close(null);
    }
    Outcome outcome = probe.close(String.format("not finished after %d s; abandoned (the figures "
        + "above are the phases it completed)", limit.toSeconds()));
    // A strategy that honours interrupts stops here; one that does not runs on as a daemon.
    thread.interrupt();
    return outcome;
  }

  /** enter(0, 2^47 clusters) at 512 B clusters, i.e. up to 2^56, then checks and the remove. */
  private static void hugeRange(Function<OverlapCheckerSetup, OverlapChecker> strategy, Probe probe) {
    int bits = OverlapCheckerSetup.MIN_CLUSTER_BITS;
    long clusters = OverlapChecker.MAX_HOST_OFFSET >>> bits;
    MetadataLayout layout = new MetadataLayout(bits);
    OverlapChecker checker = strategy.apply(
        new OverlapCheckerSetup(bits, MetadataType.ALL_MASK, layout, Map.of()));
    layout.attach(checker);
    int header = MetadataType.MAIN_HEADER.mask();
    int table = MetadataType.SNAPSHOT_TABLE.mask();
    long start = System.nanoTime();
    layout.enter(MetadataType.SNAPSHOT_TABLE, 0, clusters);
    probe.figure("enter(0, 2^47 clusters)", System.nanoTime() - start);
    probe.memory(checker);
    long middle = (clusters / 3) << bits;
    start = System.nanoTime();
    probe.expect("check(0, 1)", header | table, checker.check(0, 1, 0));
    probe.expect("check(2^56 - 1, 1)", table, checker.check(OverlapChecker.MAX_HOST_OFFSET - 1, 1, 0));
    probe.expect("check(middle, 512)", table, checker.check(middle, 512, 0));
    probe.expect("check(512, 2^56 - 512)", table,
        checker.check(512, OverlapChecker.MAX_HOST_OFFSET - 512, 0));
    probe.figure("4 checks", System.nanoTime() - start);
    start = System.nanoTime();
    layout.remove(MetadataType.SNAPSHOT_TABLE, 0, clusters);
    probe.figure("remove(0, 2^47 clusters)", System.nanoTime() - start);
    probe.expect("check(middle, 512) after remove", 0, checker.check(middle, 512, 0));
    probe.expect("check(0, 2^56) after remove", header,
        checker.check(0, OverlapChecker.MAX_HOST_OFFSET, 0));
  }

  /** An image with 10^5 L2 tables at 64 KiB clusters: per-cluster and whole-range checks. */
  private static void manyStructures(
      Function<OverlapCheckerSetup, OverlapChecker> strategy, Probe probe) {
    int bits = 16;
    int tables = 100_000;
    SimulatedImage image = SimulatedImage.withL2Tables(bits, tables);
    OverlapCheckerSetup setup = new OverlapCheckerSetup(bits, MetadataType.ALL_MASK, image, Map.of());
    OverlapChecker checker = strategy.apply(setup);
    ReferenceModel model = new ReferenceModel(setup);
    image.attach(model);
    long start = System.nanoTime();
    image.attach(checker);
    probe.figure("entering " + tables + " L2 tables", System.nanoTime() - start);
    probe.memory(checker);
    int clusters = Math.toIntExact(image.hostClusters() + 16);
    int[] expected = new int[clusters];
    for (int cluster = 0; cluster < clusters; cluster++) {
      expected[cluster] = model.check((long) cluster << bits, 1, 0);
    }
    long wrong = 0;
    long firstWrong = -1;
    start = System.nanoTime();
    for (int cluster = 0; cluster < clusters; cluster++) {
      if (checker.check((long) cluster << bits, 1, 0) != expected[cluster] && wrong++ == 0) {
        firstWrong = cluster;
      }
    }
    probe.figure(clusters + " one-cluster checks", System.nanoTime() - start);
    if (wrong > 0) {
      probe.failed(String.format("%d of %d one-cluster checks answered wrongly, the first at cluster"
          + " %d", wrong, clusters, firstWrong));
    }
    long size = 1L << bits;
    int whole = model.check(size, OverlapChecker.MAX_HOST_OFFSET - size, 0);
    start = System.nanoTime();
    int actual = checker.check(size, OverlapChecker.MAX_HOST_OFFSET - size, 0);
    probe.figure("whole-range check", System.nanoTime() - start);
    probe.expect("check(64 KiB, 2^56 - 64 KiB)", whole, actual);
  }
}

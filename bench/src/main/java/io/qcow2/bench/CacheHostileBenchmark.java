package io.qcow2.bench;

import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import io.qcow2.overlap.tck.SimulatedImage;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Cache-hostile checks: single-cluster writes at uniformly random clusters of a metadata-
 * preallocated image with 512-byte clusters ({@code structures} L2 tables, each followed by its 64
 * data clusters), so nearly every check lands in a window that is not cached. {@code cache=default}
 * uses the windowed strategy's default cache; {@code cache=one-window} gives it room for one
 * window's map only: the series' "only one bitmap cached" run. The other strategies ignore the
 * cache option.
 *
 * <p>Run: {@code java -jar bench/target/benchmarks.jar CacheHostileBenchmark}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx4g"})
public class CacheHostileBenchmark {
  /** Precomputed random targets, cycled. */
  static final int TARGETS = 1 << 16;
  /** The windowed strategy's default window size, in clusters. */
  static final int WINDOW_CLUSTERS = 4096;

  @Param(Strategies.FOUND_AT_RUN_TIME) // the runner passes Strategies.names()
  public String strategy;

  @Param({"10000"})
  public int structures;

  @Param({"default", "one-window"})
  public String cache;

  SimulatedImage image;
  OverlapChecker checker;
  private long[] targets;
  private int next;

  @Setup(Level.Trial)
  public void setUp() {
    image = Layouts.preallocated(Layouts.CLUSTER_BITS, structures);
    Map<String, String> options = cache.equals("one-window")
        ? Map.of(OverlapCheckerSetup.WINDOW_SIZE, Integer.toString(WINDOW_CLUSTERS),
            OverlapCheckerSetup.CACHE_SIZE, Integer.toString(2 * WINDOW_CLUSTERS))
        : Map.of();
    checker = Strategies.create(strategy, Layouts.CLUSTER_BITS, image, options);
    if (checker != null) {
      image.attach(checker);
    }
    SplittableRandom random = new SplittableRandom(42);
    targets = new long[TARGETS];
    long clusters = image.hostClusters();
    for (int i = 0; i < TARGETS; i++) {
      targets[i] = random.nextLong(clusters) << Layouts.CLUSTER_BITS;
    }
    next = 0;
  }

  /** One check of a 512-byte write at the next random cluster. */
  @Benchmark
  public int check() {
    long offset = targets[next];
    next = (next + 1) & (TARGETS - 1);
    return checker == null ? 0 : checker.check(offset, 1 << Layouts.CLUSTER_BITS, 0);
  }
}

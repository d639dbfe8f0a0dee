package io.qcow2.bench;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.tck.SimulatedImage;
import java.util.Map;
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
 * Cost of telling a checker about metadata: one {@code enter} of a one-cluster L2 table followed by
 * its {@code remove}, at a position that advances by 65 clusters per operation (an L2 table and
 * its 64 data clusters, the pattern of metadata preallocation with 512-byte clusters), over an
 * image of {@code structures} L2 tables. The legacy strategy ignores events (it scans instead), so
 * it costs what {@code none} costs; the windowed one updates a cached window map.
 *
 * <p>Run: {@code java -jar bench/target/benchmarks.jar EnterRemoveBenchmark}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx4g"})
public class EnterRemoveBenchmark {
  /** Stride between the positions entered: one L2 table and the 64 data clusters it maps. */
  static final long STRIDE_CLUSTERS = 65;

  @Param(Strategies.FOUND_AT_RUN_TIME) // the runner passes Strategies.names()
  public String strategy;

  @Param({"100000"})
  public int structures;

  SimulatedImage image;
  OverlapChecker checker;
  private long firstFree;
  private long freeClusters;
  private long next;

  @Setup(Level.Trial)
  public void setUp() {
    image = Layouts.consecutive(Layouts.CLUSTER_BITS, structures, 0);
    checker = Strategies.create(strategy, Layouts.CLUSTER_BITS, image, Map.of());
    if (checker != null) {
      image.attach(checker);
    }
    // Positions beyond the image: free clusters, so entering them changes the checker's state.
    firstFree = image.hostClusters();
    freeClusters = CheckLatencyBenchmark.DATA_CLUSTERS * 16;
    next = 0;
  }

  /** Enters and removes one L2 table; returns its offset. */
  @Benchmark
  public long enterRemove() {
    long offset = (firstFree + next) << Layouts.CLUSTER_BITS;
    next += STRIDE_CLUSTERS;
    if (next >= freeClusters) {
      next = 0;
    }
    if (checker != null) {
      checker.enter(offset, 1, MetadataType.ACTIVE_L2.mask());
      checker.remove(offset, 1, MetadataType.ACTIVE_L2.mask());
    }
    return offset;
  }
}

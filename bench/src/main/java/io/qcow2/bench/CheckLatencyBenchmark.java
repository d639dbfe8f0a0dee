package io.qcow2.bench;

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
 * Latency of one overlap check as the number of metadata structures grows: a guest writing
 * sequentially, {@code writeBytes} per write (one 512-byte cluster, or 64 KiB = 128 clusters),
 * over an image with 512-byte clusters holding {@code structures} active L2 tables in a row (plus
 * their L1 table and refcount blocks) and 64 Ki data clusters. The write cursor walks the whole host
 * file, metadata included, so some checks find metadata. The windowed strategy should stay flat;
 * the legacy one, which scans every table on every check, grows linearly.
 *
 * <p>Run: {@code java -jar bench/target/benchmarks.jar CheckLatencyBenchmark -p
 * structures=1000,1000000}, or through {@code io.qcow2.bench.AbReport}, whose profiles choose the
 * structure counts (quick: 10^3..10^5, full: 10^3..10^7).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx4g"})
public class CheckLatencyBenchmark {
  /** Data clusters after the metadata: where most checked writes land. */
  static final long DATA_CLUSTERS = 1 << 16;

  @Param(Strategies.FOUND_AT_RUN_TIME) // the runner passes Strategies.names()
  public String strategy;

  @Param({"1000", "10000", "100000"})
  public int structures;

  @Param({"512", "65536"})
  public int writeBytes;

  SimulatedImage image;
  OverlapChecker checker;
  private long cursor;
  private long limit;

  @Setup(Level.Trial)
  public void setUp() {
    image = Layouts.consecutive(Layouts.CLUSTER_BITS, structures, DATA_CLUSTERS);
    checker = Strategies.create(strategy, Layouts.CLUSTER_BITS, image, Map.of());
    if (checker != null) {
      image.attach(checker);
    }
    limit = (image.hostClusters() << Layouts.CLUSTER_BITS) / writeBytes * writeBytes;
    cursor = 0;
  }

  /** One check of the next sequential write; returns the metadata types it would hit. */
  @Benchmark
  public int check() {
    long offset = cursor;
    cursor += writeBytes;
    if (cursor >= limit) {
      cursor = 0;
    }
    return checker == null ? 0 : checker.check(offset, writeBytes, 0);
  }
}

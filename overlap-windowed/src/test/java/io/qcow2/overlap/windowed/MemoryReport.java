package io.qcow2.overlap.windowed;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import org.openjdk.jol.info.GraphLayout;

/**
 * Builds, through the checker API, the metadata layout of two images and reports the windowed
 * checker's memory ({@code memoryBytes()} and JOL's measurement of the live graph):
 *
 * <ul>
 *   <li>{@code 1TiB-64k}: a fully allocated 1 TiB image with 64 KiB clusters, written sequentially
 *       by the guest: header, refcount table, first refcount block and L1 table at clusters 0-3,
 *       then every L2 table allocated just before the first data cluster it maps, and every
 *       refcount block allocated at the first cluster it covers when allocation reaches it (QEMU's
 *       self-describing refcount blocks), all interleaved with data;
 *   <li>{@code 2GiB-512-prealloc}: {@code qemu-img create -o preallocation=metadata,cluster_size=512}
 *       of 2 GiB (the series' example): header, refcount table and the 1024-cluster L1 table at the
 *       start, then per L2 table the table followed by the 64 data clusters it maps. (QEMU grows and
 *       moves the refcount table while preallocating; here it is placed once, at its final size.)
 * </ul>
 *
 * Every data cluster written is checked first, as the engine does before each write. Run by {@link
 * MemoryReportTest} (default options), or by hand to compare window sizes (adds timings of the
 * build and of 10^6 random 4 KiB checks; rough, single-shot, not a benchmark):
 *
 * <pre>
 * mvn -B -o -pl overlap-windowed -am test-compile
 * java -cp overlap-windowed/target/classes:overlap-windowed/target/test-classes:overlap-api/target/classes:$HOME/.m2/repository/org/openjdk/jol/jol-core/0.17/jol-core-0.17.jar \
 *     -Djdk.attach.allowAttachSelf=true io.qcow2.overlap.windowed.MemoryReport 64 256 1024 4096 16384 65536
 * </pre>
 */
public final class MemoryReport {
  private static final int REFCOUNT_BITS = 16;
  private static final int L2_ENTRY_BYTES = 8;

  /** One image's figures. */
  record Result(String image, int windowSize, long metadataClusters, long fragments,
      long memoryBytes, long cacheBytes, long jolBytes, Map<String, Long> stats, long buildNanos, long checkNanos) {
    @Override
    public String toString() {
      return String.format(Locale.ROOT,
          "%-18s W=%-6d metadata clusters %7d, cold fragments %7d, memoryBytes %8d (cache %6d), JOL %8d (%+.1f%%)%s",
          image, windowSize, metadataClusters, fragments, memoryBytes, cacheBytes, jolBytes,
          100.0 * (memoryBytes - jolBytes) / jolBytes,
          buildNanos < 0 ? "" : String.format(Locale.ROOT,
              ", build %.0f ms, 10^6 random checks %.0f ms", buildNanos / 1e6, checkNanos / 1e6));
    }
  }

  /** Sequential host-cluster allocator that places refcount blocks at the first cluster they cover. */
  private static final class Allocator {
    final OverlapChecker checker;
    final int clusterBits;
    final long clustersPerRefblock;
    long next;
    long metadata;

    Allocator(OverlapChecker checker, int clusterBits, long next) {
      this.checker = checker;
      this.clusterBits = clusterBits;
      this.clustersPerRefblock = (1L << clusterBits) * 8 / REFCOUNT_BITS;
      this.next = next;
    }

    /** Allocates {@code count} contiguous clusters (not crossing a refblock boundary for count 1). */
    long allocate(long count) {
      if (next % clustersPerRefblock == 0) {
        metadata(1, MetadataType.REFCOUNT_BLOCK);
      }
      long at = next;
      next += count;
      return at;
    }

    long metadata(long count, MetadataType type) {
      long at = next;
      next += count;
      checker.enter(at << clusterBits, count, type.mask());
      metadata += count;
      return at;
    }

    void data() {
      long at = allocate(1);
      int hit = checker.check(at << clusterBits, 1L << clusterBits, 0);
      assert hit == 0 : "data cluster " + at + " overlaps " + MetadataType.describe(hit);
    }
  }

  /** Fully allocated 1 TiB, 64 KiB clusters. */
  static Result oneTebibyte(Map<String, String> options, boolean timed) {
    int clusterBits = 16;
    long guestClusters = (1L << 40) >>> clusterBits;
    OverlapChecker checker = create(clusterBits, options);
    long start = System.nanoTime();
    Allocator allocator = new Allocator(checker, clusterBits, 0);
    allocator.metadata(1, MetadataType.MAIN_HEADER);
    allocator.metadata(1, MetadataType.REFCOUNT_TABLE);   // 8192 entries: 16 TiB of refblocks
    allocator.metadata(1, MetadataType.REFCOUNT_BLOCK);   // covers clusters 0-32767
    long l2PerTable = (1L << clusterBits) / L2_ENTRY_BYTES;
    long l1Clusters = ceil(ceil(guestClusters, l2PerTable) * L2_ENTRY_BYTES, 1L << clusterBits);
    allocator.metadata(l1Clusters, MetadataType.ACTIVE_L1);
    for (long guest = 0; guest < guestClusters; guest++) {
      if (guest % l2PerTable == 0) {
        if (allocator.next % allocator.clustersPerRefblock == 0) {
          allocator.metadata(1, MetadataType.REFCOUNT_BLOCK);
        }
        allocator.metadata(1, MetadataType.ACTIVE_L2);
      }
      allocator.data();
    }
    return finish("1TiB-64k", checker, allocator, start, timed);
  }

  /** 2 GiB, 512-byte clusters, preallocation=metadata. */
  static Result twoGibibytesPreallocated(Map<String, String> options, boolean timed) {
    int clusterBits = 9;
    long guestClusters = (2L << 30) >>> clusterBits;
    OverlapChecker checker = create(clusterBits, options);
    long start = System.nanoTime();
    long l2PerTable = (1L << clusterBits) / L2_ENTRY_BYTES;
    long l2Tables = ceil(guestClusters, l2PerTable);
    long l1Clusters = ceil(l2Tables * L2_ENTRY_BYTES, 1L << clusterBits);
    long clustersPerRefblock = (1L << clusterBits) * 8 / REFCOUNT_BITS;
    // Host clusters: data, L2 tables, L1, header; refblocks and the refcount table on top.
    long host = guestClusters + l2Tables + l1Clusters + 1;
    long refblocks = ceil(host, clustersPerRefblock - 1);
    long reftableClusters = ceil(refblocks * 8, 1L << clusterBits);
    Allocator allocator = new Allocator(checker, clusterBits, 0);
    allocator.metadata(1, MetadataType.MAIN_HEADER);
    allocator.metadata(reftableClusters, MetadataType.REFCOUNT_TABLE);
    allocator.metadata(l1Clusters, MetadataType.ACTIVE_L1);
    // The first refblock covers clusters 0..255 and is placed after what it covers so far.
    allocator.metadata(1, MetadataType.REFCOUNT_BLOCK);
    for (long guest = 0; guest < guestClusters; guest++) {
      if (guest % l2PerTable == 0) {
        if (allocator.next % allocator.clustersPerRefblock == 0) {
          allocator.metadata(1, MetadataType.REFCOUNT_BLOCK);
        }
        allocator.metadata(1, MetadataType.ACTIVE_L2);
      }
      allocator.data();
    }
    return finish("2GiB-512-prealloc", checker, allocator, start, timed);
  }

  private static Result finish(String image, OverlapChecker checker, Allocator allocator,
      long start, boolean timed) {
    long build = System.nanoTime() - start;
    long checks = -1;
    if (timed) {
      SplittableRandom random = new SplittableRandom(42);
      long bytes = allocator.next << allocator.clusterBits;
      int sink = 0;
      long t0 = System.nanoTime();
      for (int i = 0; i < 1_000_000; i++) {
        sink |= checker.check(random.nextLong(bytes - 4096) & ~4095L, 4096, 0);
      }
      checks = System.nanoTime() - t0;
      if (sink == -1) {
        System.out.println(sink);
      }
    }
    WindowedOverlapChecker windowed = (WindowedOverlapChecker) checker;
    windowed.validate();
    return new Result(image, windowed.windowSize(), allocator.metadata, windowed.fragmentCount(),
        checker.memoryBytes(), windowed.cacheMemoryBytes(), GraphLayout.parseInstance(checker).totalSize(), checker.stats(),
        timed ? build : -1, checks);
  }

  private static OverlapChecker create(int clusterBits, Map<String, String> options) {
    return new WindowedOverlapCheckerProvider().create(
        new OverlapCheckerSetup(clusterBits, MetadataType.ALL_MASK, MetadataView.EMPTY, options));
  }

  private static long ceil(long a, long b) {
    return (a + b - 1) / b;
  }

  /** Both images with the given options. */
  static List<Result> run(Map<String, String> options, boolean timed) {
    List<Result> results = new ArrayList<>();
    results.add(oneTebibyte(options, timed));
    results.add(twoGibibytesPreallocated(options, timed));
    return results;
  }

  /** Arguments: window sizes to compare (default cache budget); none means the default only. */
  public static void main(String[] args) {
    if (args.length == 0) {
      run(Map.of(), true).forEach(System.out::println);
      return;
    }
    for (int round = 0; round < 2; round++) {   // the first round warms the JIT up
      System.out.println(round == 0 ? "warm-up:" : "measured:");
      for (String windowSize : args) {
        for (Result result : run(Map.of(OverlapCheckerSetup.WINDOW_SIZE, windowSize), true)) {
          System.out.println(result + "  " + result.stats());
        }
      }
    }
  }
}

package io.qcow2.overlap.tck;

import static io.qcow2.overlap.MetadataType.ACTIVE_L1;
import static io.qcow2.overlap.MetadataType.ACTIVE_L2;
import static io.qcow2.overlap.MetadataType.BITMAP_DATA;
import static io.qcow2.overlap.MetadataType.BITMAP_DIRECTORY;
import static io.qcow2.overlap.MetadataType.BITMAP_TABLE;
import static io.qcow2.overlap.MetadataType.INACTIVE_L1;
import static io.qcow2.overlap.MetadataType.INACTIVE_L2;
import static io.qcow2.overlap.MetadataType.MAIN_HEADER;
import static io.qcow2.overlap.MetadataType.REFCOUNT_BLOCK;
import static io.qcow2.overlap.MetadataType.REFCOUNT_TABLE;
import static io.qcow2.overlap.MetadataType.SNAPSHOT_TABLE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import io.qcow2.overlap.OverlapCheckMode;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The conformance suite every strategy passes. Subclass it, implement {@link #create}, and
 * optionally override {@link #clusterBits()} or {@link #differentialRuns()}.
 *
 * <p>Metadata is placed with a {@link MetadataLayout} (contract tests) or a {@link SimulatedImage}
 * (the differential test), which keep the {@link MetadataView} and the event stream in step, so
 * strategies that scan and strategies that track events are held to the same answers.
 *
 * <p>Every change a test makes is followed by the strategy's {@link OverlapChecker#validate()}. The
 * same class runs inside each strategy module's tests (a subclass) and in the runnable kit ({@link
 * ConformanceKit}), which runs it for any strategy found by name.
 *
 * <p>The contract, beyond the SPI's Javadoc: type presence on a cluster is a set, not a count;
 * entering a type twice and removing it once leaves the cluster without it.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class OverlapCheckerConformanceTest {
  /** System property: the directory for failing differential runs' reproduction files. */
  public static final String FAILURE_DIRECTORY_PROPERTY = "overlap.tck.failure-dir";

  /** Window-like boundaries (in clusters) that ranges are placed across. */
  private static final long[] BOUNDARIES = {8, 64, 4096, 65536};

  /** The types that can be placed anywhere, i.e. all but the header. */
  private static final List<MetadataType> PLACEABLE = List.of(ACTIVE_L1, ACTIVE_L2, REFCOUNT_TABLE,
      REFCOUNT_BLOCK, SNAPSHOT_TABLE, INACTIVE_L1, INACTIVE_L2, BITMAP_DIRECTORY, BITMAP_TABLE,
      BITMAP_DATA);

  /** The strategy under test. */
  protected abstract OverlapChecker create(OverlapCheckerSetup setup);

  /** Cluster sizes (log2) the contract tests run with. */
  protected IntStream clusterBits() {
    return IntStream.of(9, 16, 21);
  }

  /**
   * (clusterBits, enabledMask) pairs of the differential test; each runs {@link
   * DifferentialRun#operationsFromProperty()} operations.
   */
  protected Stream<Arguments> differentialRuns() {
    return Stream.of(
        Arguments.of(9, OverlapCheckMode.ALL.mask()),
        Arguments.of(12, OverlapCheckMode.CACHED.mask()),
        Arguments.of(16, OverlapCheckMode.CONSTANT.mask() | ACTIVE_L2.mask() | INACTIVE_L2.mask()));
  }

  /** Seed of the differential runs: {@link DifferentialRun#seedFromProperty()}. */
  protected long differentialSeed() {
    return DifferentialRun.seedFromProperty();
  }

  /** Operations per differential run: {@link DifferentialRun#operationsFromProperty()}. */
  protected long differentialOperations() {
    return DifferentialRun.operationsFromProperty();
  }

  /**
   * Where a failing differential run writes its reproduction file: the system property {@value
   * #FAILURE_DIRECTORY_PROPERTY}, else the temporary directory.
   */
  protected Path failureDirectory() {
    return Path.of(System.getProperty(FAILURE_DIRECTORY_PROPERTY,
        System.getProperty("java.io.tmpdir")));
  }

  /** The strategy's name in reports and failure files: the test class's simple name. */
  protected String strategyName() {
    return getClass().getSimpleName();
  }

  /** A layout with a checker for {@code enabledMask} attached. */
  private final class Fixture {
    final int clusterBits;
    final long clusterSize;
    final MetadataLayout layout;
    final OverlapChecker checker;

    Fixture(int clusterBits, int enabledMask) {
      this.clusterBits = clusterBits;
      this.clusterSize = 1L << clusterBits;
      this.layout = new MetadataLayout(clusterBits);
      this.checker = create(new OverlapCheckerSetup(clusterBits, enabledMask, layout, Map.of()));
      layout.attach(checker);
    }

    void enter(MetadataType type, long first, long clusters) {
      layout.enter(type, first, clusters);
      checker.validate();
    }

    void remove(MetadataType type, long first, long clusters) {
      layout.remove(type, first, clusters);
      checker.validate();
    }

    /** The types on clusters {@code [first, first + clusters)}. */
    int clusters(long first, long clusters) {
      return checker.check(first << clusterBits, clusters << clusterBits, 0);
    }

    int cluster(long cluster) {
      return clusters(cluster, 1);
    }
  }

  private Fixture fixture(int clusterBits) {
    return new Fixture(clusterBits, MetadataType.ALL_MASK);
  }

  @ParameterizedTest(name = "clusterBits {0}")
  @MethodSource("clusterBits")
  void headerIsClusterZero(int bits) {
    Fixture f = fixture(bits);
    int header = MAIN_HEADER.mask();
    assertEquals(header, f.checker.check(0, 1, 0));
    assertEquals(header, f.checker.check(f.clusterSize - 1, 1, 0));
    assertEquals(header, f.checker.check(f.clusterSize - 1, 2, 0));
    assertEquals(0, f.checker.check(f.clusterSize, 1, 0));
    assertEquals(0, f.checker.check(0, 1, header));
    assertEquals(header, f.clusters(0, 100));
  }

  @ParameterizedTest(name = "clusterBits {0}")
  @MethodSource("clusterBits")
  void boundariesOfEnteredRange(int bits) {
    for (MetadataType type : PLACEABLE) {
      Fixture f = fixture(bits);
      long first = 10;
      long end = 13;
      f.enter(type, first, end - first);
      String what = type + " on clusters [10, 13)";
      assertEquals(0, f.cluster(first - 1), what);
      assertEquals(type.mask(), f.cluster(first), what);
      assertEquals(type.mask(), f.cluster(end - 1), what);
      assertEquals(0, f.cluster(end), what);
      assertEquals(0, f.clusters(1, first - 1), what);
      assertEquals(type.mask(), f.clusters(1, first), what);
      assertEquals(type.mask(), f.clusters(end - 1, 50), what);
      assertEquals(0, f.clusters(end, 50), what);
      long size = f.clusterSize;
      assertEquals(0, f.checker.check(first * size - 1, 1, 0), what);
      assertEquals(type.mask(), f.checker.check(first * size - 1, 2, 0), what);
      assertEquals(type.mask(), f.checker.check(end * size - 1, 1, 0), what);
      assertEquals(0, f.checker.check(end * size, 1, 0), what);
    }
  }

  @ParameterizedTest(name = "clusterBits {0}")
  @MethodSource("clusterBits")
  void rangesAcrossWindowBoundaries(int bits) {
    for (long b : BOUNDARIES) {
      Fixture f = fixture(bits);
      String what = "boundary " + b;
      f.enter(ACTIVE_L2, b - 2, 4);
      f.enter(REFCOUNT_BLOCK, b, 1);
      f.enter(BITMAP_DIRECTORY, 3 * b - 1, b + 3);
      f.enter(SNAPSHOT_TABLE, 5 * b, b);
      assertEquals(0, f.cluster(b - 3), what);
      assertEquals(ACTIVE_L2.mask(), f.cluster(b - 2), what);
      assertEquals(ACTIVE_L2.mask(), f.cluster(b - 1), what);
      assertEquals(ACTIVE_L2.mask() | REFCOUNT_BLOCK.mask(), f.cluster(b), what);
      assertEquals(ACTIVE_L2.mask(), f.cluster(b + 1), what);
      assertEquals(0, f.cluster(b + 2), what);
      assertEquals(ACTIVE_L2.mask() | REFCOUNT_BLOCK.mask(), f.clusters(b - 4, 8), what);
      assertEquals(0, f.clusters(b + 2, b - 3), what);
      assertEquals(BITMAP_DIRECTORY.mask(), f.clusters(b + 2, 2 * b), what);
      assertEquals(0, f.cluster(3 * b - 2), what);
      assertEquals(BITMAP_DIRECTORY.mask(), f.cluster(3 * b - 1), what);
      assertEquals(BITMAP_DIRECTORY.mask(), f.cluster(3 * b), what);
      assertEquals(BITMAP_DIRECTORY.mask(), f.cluster(4 * b), what);
      assertEquals(BITMAP_DIRECTORY.mask(), f.cluster(4 * b + 1), what);
      assertEquals(0, f.cluster(4 * b + 2), what);
      assertEquals(0, f.clusters(4 * b + 2, b - 2), what);
      assertEquals(SNAPSHOT_TABLE.mask(), f.clusters(4 * b + 2, b - 1), what);
      assertEquals(SNAPSHOT_TABLE.mask(), f.cluster(6 * b - 1), what);
      assertEquals(0, f.clusters(6 * b, 3 * b), what);
      int all = ACTIVE_L2.mask() | REFCOUNT_BLOCK.mask() | BITMAP_DIRECTORY.mask()
          | SNAPSHOT_TABLE.mask();
      assertEquals(all, f.clusters(1, 6 * b), what);
      assertEquals(all & ~ACTIVE_L2.mask(),
          f.checker.check(f.clusterSize, 6 * b * f.clusterSize, ACTIVE_L2.mask()), what);
      f.remove(BITMAP_DIRECTORY, 3 * b - 1, b + 3);
      assertEquals(0, f.clusters(b + 2, 3 * b - 2), what);
    }
  }

  @ParameterizedTest(name = "clusterBits {0}")
  @MethodSource("clusterBits")
  void zeroLengthChecksAreSafe(int bits) {
    Fixture f = fixture(bits);
    f.enter(ACTIVE_L2, 5, 1);
    assertEquals(0, f.checker.check(0, 0, 0));
    assertEquals(0, f.checker.check(5 * f.clusterSize, 0, 0));
    assertEquals(0, f.checker.check(5 * f.clusterSize + 7, 0, 0));
  }

  @ParameterizedTest(name = "clusterBits {0}")
  @MethodSource("clusterBits")
  void unalignedRangesRoundOutToClusters(int bits) {
    Fixture f = fixture(bits);
    long size = f.clusterSize;
    f.enter(ACTIVE_L2, 5, 1);
    int l2 = ACTIVE_L2.mask();
    assertEquals(0, f.checker.check(4 * size + 1, size - 1, 0));
    assertEquals(l2, f.checker.check(4 * size + 1, size, 0));
    assertEquals(l2, f.checker.check(5 * size - 1, 2, 0));
    assertEquals(l2, f.checker.check(5 * size + size / 2, 1, 0));
    assertEquals(l2, f.checker.check(6 * size - 1, 1, 0));
    assertEquals(l2, f.checker.check(6 * size - 1, 3 * size, 0));
    assertEquals(0, f.checker.check(6 * size, 3 * size + 5, 0));
  }

  @ParameterizedTest(name = "clusterBits {0}")
  @MethodSource("clusterBits")
  void ignoredTypesAreNotReported(int bits) {
    Fixture f = fixture(bits);
    f.enter(ACTIVE_L2, 5, 1);
    f.enter(REFCOUNT_BLOCK, 5, 1);
    f.enter(INACTIVE_L2, 5, 1);
    int all = ACTIVE_L2.mask() | REFCOUNT_BLOCK.mask() | INACTIVE_L2.mask();
    assertEquals(all, f.cluster(5));
    for (int ignored = 0; ignored <= MetadataType.ALL_MASK; ignored++) {
      assertEquals(all & ~ignored, f.checker.check(5 * f.clusterSize, 1, ignored),
          "ignored " + MetadataType.describe(ignored));
    }
  }

  @ParameterizedTest(name = "clusterBits {0}")
  @MethodSource("clusterBits")
  void disabledTypesAreNeverReported(int bits) {
    int[] enabledMasks = {OverlapCheckMode.CONSTANT.mask(), OverlapCheckMode.CACHED.mask(),
        ACTIVE_L2.mask() | INACTIVE_L1.mask() | BITMAP_DIRECTORY.mask(), INACTIVE_L2.mask(), 0};
    for (int enabled : enabledMasks) {
      Fixture f = new Fixture(bits, enabled);
      long first = 10;
      for (MetadataType type : PLACEABLE) {
        f.enter(type, first, 2);
        first += 3;
      }
      String what = "enabled " + MetadataType.describe(enabled);
      assertEquals(enabled & MAIN_HEADER.mask(), f.cluster(0), what);
      first = 10;
      for (MetadataType type : PLACEABLE) {
        assertEquals(enabled & type.mask(), f.clusters(first, 2), what + ", " + type);
        first += 3;
      }
      assertEquals(enabled, f.clusters(0, first), what);
      assertEquals(enabled, f.checker.enabledMask(), what);
    }
  }

  @ParameterizedTest(name = "clusterBits {0}")
  @MethodSource("clusterBits")
  void removingOneTypeKeepsTheOthers(int bits) {
    Fixture f = fixture(bits);
    f.enter(ACTIVE_L2, 5, 2);
    f.enter(INACTIVE_L2, 6, 2);
    f.enter(REFCOUNT_BLOCK, 6, 1);
    f.remove(ACTIVE_L2, 5, 2);
    assertEquals(0, f.cluster(5));
    assertEquals(INACTIVE_L2.mask() | REFCOUNT_BLOCK.mask(), f.cluster(6));
    assertEquals(INACTIVE_L2.mask(), f.cluster(7));
    f.remove(REFCOUNT_BLOCK, 6, 1);
    assertEquals(INACTIVE_L2.mask(), f.clusters(5, 3));
  }

  @ParameterizedTest(name = "clusterBits {0}")
  @MethodSource("clusterBits")
  void removingWhatWasNeverEnteredIsHarmless(int bits) {
    Fixture f = fixture(bits);
    f.enter(ACTIVE_L2, 5, 1);
    f.remove(ACTIVE_L2, 7, 3);
    f.remove(REFCOUNT_BLOCK, 5, 1);
    f.remove(BITMAP_DIRECTORY, 20, 2);
    f.checker.remove(100L << bits, 1000, MetadataType.ALL_MASK & ~MAIN_HEADER.mask());
    assertEquals(ACTIVE_L2.mask(), f.cluster(5));
    assertEquals(0, f.clusters(6, 20));
    assertEquals(MAIN_HEADER.mask(), f.cluster(0));
  }

  /** Presence is a set: entering a type twice and removing it once removes it. */
  @ParameterizedTest(name = "clusterBits {0}")
  @MethodSource("clusterBits")
  void enteringTwiceThenRemovingOnceRemoves(int bits) {
    Fixture f = fixture(bits);
    f.enter(ACTIVE_L2, 5, 2);
    f.enter(ACTIVE_L2, 5, 2);
    f.enter(SNAPSHOT_TABLE, 9, 3);
    f.enter(SNAPSHOT_TABLE, 9, 3);
    assertEquals(ACTIVE_L2.mask(), f.clusters(5, 2));
    assertEquals(SNAPSHOT_TABLE.mask(), f.clusters(9, 3));
    f.remove(ACTIVE_L2, 5, 2);
    f.remove(SNAPSHOT_TABLE, 9, 3);
    assertEquals(0, f.clusters(1, 20));
  }

  @ParameterizedTest(name = "clusterBits {0}")
  @MethodSource("clusterBits")
  void invalidArgumentsAreRejectedWithTheValue(int bits) {
    OverlapChecker checker = create(new OverlapCheckerSetup(
        bits, MetadataType.ALL_MASK, MetadataView.EMPTY, Map.of()));
    long size = 1L << bits;
    int l2 = ACTIVE_L2.mask();
    int unknown = MetadataType.ALL_MASK + 1; // the first bit beyond every type
    assertRejected("-" + size, () -> checker.enter(-size, 1, l2));
    assertRejected(String.valueOf(size + 1), () -> checker.enter(size + 1, 1, l2));
    assertRejected("-1", () -> checker.enter(size, -1, l2));
    assertRejected(hex(unknown), () -> checker.enter(size, 1, unknown));
    assertRejected("empty", () -> checker.enter(size, 1, 0));
    long max = OverlapChecker.MAX_HOST_OFFSET;
    assertRejected("cluster count 2", () -> checker.enter(max - size, 2, l2));
    assertRejected(String.valueOf(max + size), () -> checker.enter(max + size, 1, l2));
    assertRejected("-" + size, () -> checker.remove(-size, 1, l2));
    assertRejected(String.valueOf(size + 1), () -> checker.remove(size + 1, 1, l2));
    assertRejected("-1", () -> checker.remove(size, -1, l2));
    assertRejected(hex(unknown << 1), () -> checker.remove(size, 1, unknown << 1));
    assertRejected("-1", () -> checker.check(-1, 1, 0));
    assertRejected("-5", () -> checker.check(0, -5, 0));
    assertRejected(String.valueOf(max - 1), () -> checker.check(max - 1, 2, 0));
    assertRejected(hex(unknown << 3), () -> checker.check(0, 1, unknown << 3));
    checker.enter(max - size, 1, l2);
    checker.check(max - 1, 1, 0);
    Map<String, Long> stats = checker.stats();
    assertEquals(1L, stats.get(OverlapChecker.STAT_ENTERS), "rejected calls are not counted");
    assertEquals(0L, stats.get(OverlapChecker.STAT_REMOVES), "rejected calls are not counted");
    assertEquals(1L, stats.get(OverlapChecker.STAT_QUERIES), "rejected calls are not counted");
  }

  private static String hex(int value) {
    return "0x" + Integer.toHexString(value);
  }

  private static void assertRejected(String valueInMessage, Runnable call) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
    assertTrue(e.getMessage().contains(valueInMessage),
        "message '" + e.getMessage() + "' should contain '" + valueInMessage + "'");
  }

  @Test
  void statsCountEntersRemovesAndQueries() {
    OverlapChecker checker = create(new OverlapCheckerSetup(
        12, OverlapCheckMode.CONSTANT.mask(), MetadataView.EMPTY, Map.of()));
    checker.enter(4096, 1, ACTIVE_L2.mask());
    checker.enter(8192, 2, ACTIVE_L1.mask());
    checker.enter(8192, 0, ACTIVE_L1.mask());
    checker.remove(8192, 2, ACTIVE_L1.mask());
    checker.remove(4096, 1, ACTIVE_L2.mask());
    for (int i = 0; i < 4; i++) {
      checker.check(i * 4096L, i, 0);
    }
    Map<String, Long> stats = checker.stats();
    assertEquals(List.of(OverlapChecker.STAT_ENTERS, OverlapChecker.STAT_REMOVES,
        OverlapChecker.STAT_QUERIES), List.copyOf(stats.keySet()).subList(0, 3));
    assertEquals(3L, stats.get(OverlapChecker.STAT_ENTERS));
    assertEquals(2L, stats.get(OverlapChecker.STAT_REMOVES));
    assertEquals(4L, stats.get(OverlapChecker.STAT_QUERIES));
  }

  @ParameterizedTest(name = "clusterBits {0}")
  @MethodSource("clusterBits")
  void memoryBytesIsPositive(int bits) {
    Fixture f = fixture(bits);
    assertTrue(f.checker.memoryBytes() > 0);
    f.enter(ACTIVE_L2, 5, 3);
    f.enter(SNAPSHOT_TABLE, 4096, 100);
    assertTrue(f.checker.memoryBytes() > 0);
  }

  @ParameterizedTest(name = "clusterBits {0}, enabled {1}")
  @MethodSource("differentialRuns")
  void agreesWithTheReferenceModelOnRandomHistories(int bits, int enabledMask)
      throws IOException {
    long seed = differentialSeed();
    long operations = differentialOperations();
    DifferentialRun.Report report;
    try {
      report = DifferentialRun.runWithReport(this::create, bits, enabledMask, seed, operations);
    } catch (DifferentialRun.StrategyFailure e) {
      Path file = DifferentialRun.writeFailure(failureDirectory(), strategyName(), bits,
          enabledMask, seed, operations, e.step(), e.toString());
      throw new AssertionError(e.getMessage() + "; seed and operations written to " + file, e);
    }
    System.out.printf("%s differential run, clusterBits %d, enabled [%s], seed %d (-D%s=%d): %s%n",
        strategyName(), bits, MetadataType.optionNames(enabledMask), seed,
        DifferentialRun.SEED_PROPERTY, seed, report);
    if (report.disagreement() != null) {
      Path file = DifferentialRun.writeFailure(failureDirectory(), strategyName(), bits,
          enabledMask, seed, operations, report.disagreement().step(),
          report.disagreement().toString());
      fail("disagreement with the reference model: " + report.disagreement()
          + "; seed and operations written to " + file);
    }
    for (MetadataType type : MetadataType.fromMask(enabledMask)) {
      assertTrue(report.hits(type) > 0, () -> "seed " + seed + ": no check hit " + type
          + ", the run proves nothing about it: " + report);
    }
  }
}

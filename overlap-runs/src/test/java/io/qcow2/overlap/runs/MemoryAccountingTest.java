package io.qcow2.overlap.runs;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.qcow2.overlap.MetadataType;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.openjdk.jol.info.GraphLayout;

/** memoryBytes() equals JOL's measurement of the live object graph, byte for byte. */
class MemoryAccountingTest {
  @ParameterizedTest(name = "at most {0} runs per block")
  @ValueSource(ints = {1, 7, RunsOverlapCheckerProvider.BLOCK_RUNS, PackedBlock.MAX_RUNS})
  void agreesWithJol(int blockRuns) {
    RunsOverlapChecker checker = Checkers.create(16, blockRuns);
    assertAgrees(checker, "empty");

    checker.enter(0, 1, MetadataType.MAIN_HEADER.mask());
    checker.enter(3L << 16, 2, MetadataType.REFCOUNT_TABLE.mask());
    assertAgrees(checker, "small");

    // L2 tables and refcount blocks interleaved with data.
    SplittableRandom random = new SplittableRandom(blockRuns);
    for (long cluster = 16; cluster < 2_000_000; cluster += 1 + random.nextInt(4000)) {
      checker.enter(cluster << 16, 1 + random.nextInt(3),
          random.nextBoolean() ? MetadataType.ACTIVE_L2.mask() : MetadataType.REFCOUNT_BLOCK.mask());
    }
    assertAgrees(checker, "large");
    checker.check(0, 2_000_000L << 16, 0);
    assertAgrees(checker, "after a check");

    for (long cluster = 16; cluster < 2_000_000; cluster += 50_000) {
      checker.remove(cluster << 16, 10_000, MetadataType.ACTIVE_L2.mask());
    }
    checker.enter(1L << 50, 1, MetadataType.INACTIVE_L2.mask());
    checker.check(0, 1, 0);
    assertAgrees(checker, "after removes");

    checker.remove(0, 1L << (56 - 16), MetadataType.ALL_MASK);
    assertAgrees(checker, "emptied");
    checker.validate();
  }

  static void assertAgrees(RunsOverlapChecker checker, String state) {
    long accounted = checker.memoryBytes();
    long measured = GraphLayout.parseInstance(checker).totalSize();
    System.out.printf("memory %-14s %s: memoryBytes %9d, JOL %9d%n", state, checker, accounted, measured);
    assertEquals(measured, accounted, () -> state + ": " + GraphLayout.parseInstance(checker).toFootprint());
  }
}

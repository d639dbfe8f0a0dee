package io.qcow2.overlap.runs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapCheckMode;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.tck.ReferenceModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Randomised differential test: the runs checker against the TCK's {@link ReferenceModel}, driven
 * directly with workloads aimed at blocks (a random walk around a hot cluster, sequential appends as
 * {@code qemu-img create -o preallocation=metadata} makes them, ranges across blocks, jumps between
 * 0, the middle and the top of the 2^56 byte space, rare whole-space checks), for block sizes from 1
 * to the format's maximum. {@code validate()} runs after every step. The system property {@code
 * overlap.tck.operations} (the TCK's property) is the operation count per block size. Seeds are
 * fixed; a disagreement fails with the seed, the step and the last operations, which are also
 * written to {@code target/runs-differential-failure.txt}.
 */
class RunsDifferentialTest {
  private static final long SEED = 0x5EED_2014_1124L;
  private static final int HISTORY = 32;
  private static final long SPAN = 2000;

  static long operations() {
    return Long.getLong("overlap.tck.operations", 50_000);
  }

  @ParameterizedTest(name = "at most {0} runs per block")
  @ValueSource(ints = {1, 2, 5, 16, RunsOverlapCheckerProvider.BLOCK_RUNS, PackedBlock.MAX_RUNS})
  void agreesWithReferenceModel(int blockRuns) throws IOException {
    long seed = SEED ^ blockRuns;
    SplittableRandom random = new SplittableRandom(seed);
    int clusterBits = blockRuns % 2 == 0 ? 9 : 16;
    int enabled = blockRuns == 5 ? OverlapCheckMode.CACHED.mask() : MetadataType.ALL_MASK;
    RunsOverlapChecker checker = Checkers.create(clusterBits, enabled, blockRuns);
    ReferenceModel model = new ReferenceModel(clusterBits, enabled);

    long maxCluster = OverlapChecker.MAX_HOST_OFFSET >>> clusterBits;
    long[] regions = {0, random.nextLong(maxCluster / 2), maxCluster - SPAN};
    long region = 0;
    long hot = 0;
    boolean appending = false;
    String[] history = new String[HISTORY];
    long operations = operations();
    long hits = 0;
    for (long step = 0; step < operations; step++) {
      int dice = random.nextInt(1000);
      if (dice < 10) {
        region = regions[random.nextInt(dice < 3 ? regions.length : 1)];
        hot = random.nextLong(SPAN);
        appending = random.nextInt(3) == 0;
      } else if (appending) {
        hot += random.nextInt(1, 70);
      } else {
        hot += random.nextInt(-64, 65);
      }
      hot = Math.floorMod(hot, SPAN);
      long cluster = Math.min(region + hot, maxCluster - 1);
      long count = random.nextInt(100) < 3 ? 1 + random.nextLong(600) : 1 + random.nextInt(3);
      count = Math.min(count, maxCluster - cluster);
      int types = random.nextInt(3) == 0
          ? 1 + random.nextInt(MetadataType.ALL_MASK)
          : 1 << random.nextInt(3 + random.nextInt(MetadataType.values().length - 2));
      long offset = cluster << clusterBits;
      String op;
      int kind = appending ? (random.nextInt(3) == 0 ? 9 : 0) : random.nextInt(10);
      if (random.nextInt(2000) == 0) {
        offset = random.nextBoolean() ? 0 : offset;
        count = maxCluster - (offset >>> clusterBits);
        kind = 9;
      }
      if (kind < 3) {
        op = String.format("enter(0x%x, %d, 0x%x)", offset, count, types);
        checker.enter(offset, count, types);
        model.enter(offset, count, types);
      } else if (kind < 5) {
        op = String.format("remove(0x%x, %d, 0x%x)", offset, count, types);
        checker.remove(offset, count, types);
        model.remove(offset, count, types);
      } else {
        long byteOffset = offset + random.nextInt(1 << clusterBits);
        long length = Math.min(random.nextLong(count << clusterBits) + 1,
            OverlapChecker.MAX_HOST_OFFSET - byteOffset);
        int ignored = random.nextInt(8) == 0 ? random.nextInt(MetadataType.ALL_MASK + 1) : 0;
        op = String.format("check(0x%x, %d, 0x%x)", byteOffset, length, ignored);
        int actual = checker.check(byteOffset, length, ignored);
        int expected = model.check(byteOffset, length, ignored);
        if (actual != expected) {
          history[(int) (step % HISTORY)] = op;
          fail(report(seed, step, history,
              String.format("%s: runs 0x%x, model 0x%x", op, actual, expected)));
        }
        hits += expected == 0 ? 0 : 1;
      }
      history[(int) (step % HISTORY)] = op;
      try {
        checker.validate();
      } catch (IllegalStateException | AssertionError e) {
        fail(report(seed, step, history, "validate: " + e.getMessage()), e);
      }
    }
    assertEquals(model.stats().get(OverlapChecker.STAT_QUERIES),
        checker.stats().get(OverlapChecker.STAT_QUERIES));
    if (hits < operations / 20) {
      fail("seed " + seed + ": only " + hits + " checks found metadata; the run proves little");
    }
    System.out.printf("runs differential, at most %d runs per block, seed 0x%x: %d operations, "
            + "%d checks hit, %s, %s%n",
        blockRuns, seed, operations, hits, checker.stats(), checker);
  }

  private static String report(long seed, long step, String[] history, String what)
      throws IOException {
    StringBuilder text = new StringBuilder(String.format(
        "disagreement at step %d (seed 0x%x): %s%nlast operations, oldest first:%n", step, seed, what));
    for (long s = Math.max(0, step - HISTORY + 1); s <= step; s++) {
      text.append("  ").append(history[(int) (s % HISTORY)]).append('\n');
    }
    Path dump = Path.of("target", "runs-differential-failure.txt");
    Files.createDirectories(dump.getParent());
    Files.writeString(dump, text);
    return text.toString();
  }
}

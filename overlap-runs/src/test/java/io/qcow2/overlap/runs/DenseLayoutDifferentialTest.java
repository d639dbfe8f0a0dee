package io.qcow2.overlap.runs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.tck.ReferenceModel;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Randomised differential test of lookups on a dense layout like {@code qemu-img create -o
 * preallocation=metadata}: an L2 table every 65 clusters with jitter, refcount blocks entered
 * afterwards (as the engine does) so that they split blocks, then checks at uniformly random
 * clusters, the cache-hostile workload, mixed with enters and removes that move blocks and so
 * rebuild the block directory. Blocks here are spread evenly over a few million clusters, so
 * lookups go through the directory's computed bucket cuts and through the block's fixed search
 * window, which {@link RunsDifferentialTest}'s jumps across the whole 2^56 byte space rarely reach.
 * The answer of every check is compared with the TCK's {@link ReferenceModel}; {@code validate()}
 * runs every {@value #VALIDATE_EVERY} steps and at the end. Seeds are fixed and printed on failure.
 */
class DenseLayoutDifferentialTest {
  private static final long SEED = 0xDE45_E2014L;
  private static final int CLUSTER_BITS = 9;
  private static final int VALIDATE_EVERY = 4096;
  private static final int L2_TABLES = 20_000;

  @ParameterizedTest(name = "at most {0} runs per block")
  @ValueSource(ints = {5, 16, RunsOverlapCheckerProvider.BLOCK_RUNS, PackedBlock.MAX_RUNS})
  void randomChecksAgreeWithReferenceModel(int blockRuns) {
    long seed = SEED ^ blockRuns;
    SplittableRandom random = new SplittableRandom(seed);
    RunsOverlapChecker checker = Checkers.create(CLUSTER_BITS, blockRuns);
    ReferenceModel model = new ReferenceModel(CLUSTER_BITS, MetadataType.ALL_MASK);
    int l2 = MetadataType.ACTIVE_L2.mask();
    int refcountBlock = MetadataType.REFCOUNT_BLOCK.mask();

    enter(checker, model, 0, 1, MetadataType.MAIN_HEADER.mask());
    enter(checker, model, 1, 300, MetadataType.ACTIVE_L1.mask());
    long cluster = 301;
    for (int i = 0; i < L2_TABLES; i++) {
      // Mostly the preallocated rhythm; now and then a gap or a table of several clusters, so that
      // residuals and block spans vary.
      cluster += random.nextInt(50) == 0 ? random.nextInt(2000) : 0;
      long length = random.nextInt(100) == 0 ? 2 + random.nextInt(5) : 1;
      enter(checker, model, cluster, length, l2);
      cluster += length + 64;
    }
    long end = cluster;
    for (long block = 256; block < end; block += 256 + random.nextInt(3)) {
      if (model.typesAt(block) == 0) {
        enter(checker, model, block, 1, refcountBlock);
      }
    }
    checker.validate();

    long operations = RunsDifferentialTest.operations() * 4;
    long hits = 0;
    for (long step = 0; step < operations; step++) {
      long at = random.nextLong(end + 1000);
      int dice = random.nextInt(100);
      if (dice < 3) {
        int types = random.nextBoolean() ? l2 : refcountBlock | l2;
        enter(checker, model, at, 1 + random.nextInt(3), types);
      } else if (dice < 6) {
        long count = random.nextInt(10) == 0 ? 1 + random.nextInt(5000) : 1 + random.nextInt(3);
        checker.remove(at << CLUSTER_BITS, count, MetadataType.ALL_MASK);
        model.remove(at << CLUSTER_BITS, count, MetadataType.ALL_MASK);
      } else {
        long offset = (at << CLUSTER_BITS) + random.nextInt(1 << CLUSTER_BITS);
        long length = random.nextInt(10) == 0 ? 1 + random.nextInt(200 << CLUSTER_BITS) : 1;
        int actual = checker.check(offset, length, 0);
        int expected = model.check(offset, length, 0);
        if (actual != expected) {
          fail(String.format("seed 0x%x step %d: check(0x%x, %d): runs 0x%x, model 0x%x; %s",
              seed, step, offset, length, actual, expected, checker));
        }
        hits += expected == 0 ? 0 : 1;
      }
      if (step % VALIDATE_EVERY == 0) {
        validate(checker, seed, step);
      }
    }
    validate(checker, seed, operations);
    assertEquals(model.stats().get(OverlapChecker.STAT_QUERIES),
        checker.stats().get(OverlapChecker.STAT_QUERIES));
    if (hits < operations / 200) {
      fail("seed " + seed + ": only " + hits + " checks found metadata; the run proves little");
    }
    System.out.printf("dense layout, at most %d runs per block, seed 0x%x: %d operations, %d checks "
        + "hit, %s, %s%n", blockRuns, seed, operations, hits, checker.stats(), checker);
  }

  private static void enter(
      RunsOverlapChecker checker, ReferenceModel model, long cluster, long count, int types) {
    checker.enter(cluster << CLUSTER_BITS, count, types);
    model.enter(cluster << CLUSTER_BITS, count, types);
  }

  private static void validate(RunsOverlapChecker checker, long seed, long step) {
    try {
      checker.validate();
    } catch (IllegalStateException | AssertionError e) {
      fail(String.format("seed 0x%x step %d: validate: %s", seed, step, e.getMessage()), e);
    }
  }
}

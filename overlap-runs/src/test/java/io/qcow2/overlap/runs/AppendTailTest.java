package io.qcow2.overlap.runs;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.tck.ReferenceModel;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The tail of pending appends against the TCK's {@link ReferenceModel}, on a growing image: mostly
 * appends (after a gap, touching the last run with the same or other types, filling the tail past
 * {@link RunsOverlapChecker#TAIL_RUNS}), now and then an enter or remove behind the end (which packs
 * the tail first), and checks of single clusters and of ranges across the tail's start. {@code
 * validate()} after every step; the seed is printed on failure.
 */
class AppendTailTest {
  private static final int CLUSTER_BITS = 9;
  private static final int STEPS = 15_000;

  @ParameterizedTest(name = "at most {0} runs per block")
  @ValueSource(ints = {5, RunsOverlapCheckerProvider.BLOCK_RUNS})
  void growingImageAgreesWithReferenceModel(int blockRuns) {
    long seed = 0x7A11L ^ blockRuns;
    SplittableRandom random = new SplittableRandom(seed);
    RunsOverlapChecker checker = Checkers.create(CLUSTER_BITS, blockRuns);
    ReferenceModel model = new ReferenceModel(CLUSTER_BITS, MetadataType.ALL_MASK);
    MetadataType[] types = MetadataType.values();
    long end = 0;
    for (int step = 0; step < STEPS; step++) {
      String what;
      int choice = random.nextInt(100);
      if (choice < 45) {
        // An append: after a gap, or touching the last run.
        long first = end + (random.nextInt(3) == 0 ? 0 : 1 + random.nextInt(70));
        long count = 1 + random.nextInt(random.nextInt(20) == 0 ? 300 : 3);
        int mask = types[random.nextInt(3)].mask();
        checker.enter(first << CLUSTER_BITS, count, mask);
        model.enter(first << CLUSTER_BITS, count, mask);
        end = first + count;
        what = "append " + first + "+" + count;
      } else if (choice < 50) {
        long first = Math.max(0, end - 1 - random.nextInt(200));
        long count = 1 + random.nextInt(4);
        int mask = types[random.nextInt(types.length)].mask();
        boolean enter = random.nextBoolean();
        if (enter) {
          checker.enter(first << CLUSTER_BITS, count, mask);
          model.enter(first << CLUSTER_BITS, count, mask);
          end = Math.max(end, first + count);
        } else {
          checker.remove(first << CLUSTER_BITS, count, mask);
          model.remove(first << CLUSTER_BITS, count, mask);
        }
        what = (enter ? "enter " : "remove ") + first + "+" + count;
      } else {
        long first = Math.max(0, end - random.nextInt(400));
        long length = random.nextInt(4) == 0 ? 1 + random.nextInt(300 << CLUSTER_BITS) : 512;
        long offset = (first << CLUSTER_BITS) + random.nextInt(1 << CLUSTER_BITS);
        int ignored = random.nextInt(4) == 0 ? types[random.nextInt(types.length)].mask() : 0;
        assertEquals(model.check(offset, length, ignored), checker.check(offset, length, ignored),
            String.format("seed %d step %d: check %d+%d ignoring 0x%x", seed, step, offset, length,
                ignored));
        what = "check";
      }
      try {
        checker.validate();
      } catch (IllegalStateException e) {
        throw new AssertionError(String.format("seed %d step %d after %s: %s", seed, step, what,
            e.getMessage()), e);
      }
    }
  }
}

package io.qcow2.overlap.tck;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;

/**
 * The seeded randomised differential test, callable without JUnit: a {@link SimulatedImage} drives
 * a strategy and a {@link ReferenceModel} through random operations interleaved with random checks
 * (unaligned offsets, lengths from zero to 2^17 clusters, random ignore masks), and every answer is
 * compared. The image validates itself every few changes and at the end.
 */
public final class DifferentialRun {
  /** System property: operations per run. */
  public static final String OPERATIONS_PROPERTY = "overlap.tck.operations";
  /** System property: the seed. */
  public static final String SEED_PROPERTY = "overlap.tck.seed";
  public static final long DEFAULT_OPERATIONS = 100_000;
  public static final long DEFAULT_SEED = 0x20141124L;
  /**
   * Image changes between self-checks; the image's own tests validate after every
   * change, here it would dominate the run time.
   */
  private static final int VALIDATE_EVERY = 8;

  /** The first answer on which strategy and model differ. */
  public record Disagreement(
      long seed, long step, String lastOperation, long offset, long length, int ignoredTypes,
      int expected, int actual) {
    @Override
    public String toString() {
      return String.format(
          "seed %d (-D%s=%d), step %d, after operation '%s': check(offset %d (0x%x), length %d, "
              + "ignored [%s]) expected [%s] but was [%s]",
          seed, SEED_PROPERTY, seed, step, lastOperation, offset, offset, length,
          MetadataType.describe(ignoredTypes), MetadataType.describe(expected),
          MetadataType.describe(actual));
    }
  }

  private DifferentialRun() {}

  /** {@value #OPERATIONS_PROPERTY}, or {@link #DEFAULT_OPERATIONS}. */
  public static long operationsFromProperty() {
    return Long.getLong(OPERATIONS_PROPERTY, DEFAULT_OPERATIONS);
  }

  /** {@value #SEED_PROPERTY}, or {@link #DEFAULT_SEED}. */
  public static long seedFromProperty() {
    return Long.getLong(SEED_PROPERTY, DEFAULT_SEED);
  }

  /**
   * Runs {@code operations} steps (image changes and checks, roughly one in three a change) and
   * returns the first disagreement, or {@code null} if there is none.
   *
   * @throws IllegalStateException naming the seed and step if the strategy or the image throws
   */
  public static Disagreement run(
      Function<OverlapCheckerSetup, ? extends OverlapChecker> strategy,
      int clusterBits, int enabledMask, long seed, long operations) {
    Random random = new Random(seed);
    SimulatedImage image = new SimulatedImage(clusterBits);
    OverlapCheckerSetup setup = new OverlapCheckerSetup(clusterBits, enabledMask, image, Map.of());
    OverlapChecker checker = strategy.apply(setup);
    ReferenceModel model = new ReferenceModel(setup);
    image.attach(checker);
    image.attach(model);
    long clusterSize = 1L << clusterBits;
    String operation = "(image created)";
    long changes = 0;
    for (long step = 0; step < operations; step++) {
      long offset = 0;
      long length = 0;
      try {
        if (random.nextInt(3) == 0) {
          operation = image.randomStep(random);
          if (++changes % VALIDATE_EVERY == 0) {
            image.validate();
          }
          continue;
        }
        long top = image.hostClusters();
        long cluster = random.nextInt(4) == 0
            ? (long) (random.nextDouble() * (2 * top + (1 << 17)))
            : (long) (random.nextDouble() * (top + 8));
        offset = cluster << clusterBits;
        if (random.nextBoolean()) {
          offset += random.nextInt((int) clusterSize);
        }
        length = randomLength(random, clusterSize);
        int ignored = random.nextBoolean() ? 0 : random.nextInt(MetadataType.ALL_MASK + 1);
        int expected = model.check(offset, length, ignored);
        int actual = checker.check(offset, length, ignored);
        if (expected != actual) {
          return new Disagreement(seed, step, operation, offset, length, ignored, expected, actual);
        }
      } catch (RuntimeException e) {
        throw new IllegalStateException(String.format(
            "seed %d (-D%s=%d), step %d, operation '%s', check offset %d length %d: %s",
            seed, SEED_PROPERTY, seed, step, operation, offset, length, e), e);
      }
    }
    image.validate();
    return null;
  }

  private static long randomLength(Random random, long clusterSize) {
    int kind = random.nextInt(20);
    if (kind < 2) {
      return 0;
    }
    if (kind < 10) {
      return 1 + (long) (random.nextDouble() * clusterSize);
    }
    if (kind < 16) {
      return 1 + (long) (random.nextDouble() * 16 * clusterSize);
    }
    if (kind < 19) {
      return 1 + (long) (random.nextDouble() * 512 * clusterSize);
    }
    return 1 + (long) (random.nextDouble() * (clusterSize << 17));
  }
}

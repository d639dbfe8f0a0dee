package io.qcow2.overlap.tck;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;

/**
 * The seeded randomised differential test, callable without JUnit: a {@link SimulatedImage} drives
 * a strategy and a {@link ReferenceModel} through random operations interleaved with random checks
 * (unaligned offsets, lengths from zero to 2^17 clusters, random ignore masks), and every answer is
 * compared. The strategy's {@link OverlapChecker#validate()} runs after every image change; the
 * image validates itself every few changes and at the end.
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

  /**
   * What a run did: its first disagreement ({@code null} if none), how many checks and image
   * changes it made, and how many checks reported each type (indexed by {@link
   * MetadataType#bit()}), so that tests can see the run was not vacuous.
   */
  public record Report(Disagreement disagreement, long checks, long changes, long[] hitsByType) {
    /** Checks whose answer included {@code type}. */
    public long hits(MetadataType type) {
      return hitsByType[type.bit()];
    }

    @Override
    public String toString() {
      StringBuilder out = new StringBuilder();
      out.append(checks).append(" checks, ").append(changes).append(" image changes, hits:");
      for (MetadataType type : MetadataType.values()) {
        out.append(' ').append(type.optionName()).append('=').append(hitsByType[type.bit()]);
      }
      if (disagreement != null) {
        out.append("; ").append(disagreement);
      }
      return out.toString();
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
    return runWithReport(strategy, clusterBits, enabledMask, seed, operations).disagreement();
  }

  /**
   * As {@link #run}, returning what the run did; it stops at the first disagreement.
   *
   * @throws IllegalStateException naming the seed and step if the strategy or the image throws
   */
  public static Report runWithReport(
      Function<OverlapCheckerSetup, ? extends OverlapChecker> strategy,
      int clusterBits, int enabledMask, long seed, long operations) {
    return run(strategy, clusterBits, enabledMask, seed, operations, null);
  }

  /**
   * A run stopped because the strategy (or its {@link OverlapChecker#validate()}) threw at {@code
   * step}; the message names the seed, the step and the operation.
   */
  public static final class StrategyFailure extends IllegalStateException {
    private static final long serialVersionUID = 1L;
    private final long seed;
    private final long step;

    StrategyFailure(String message, long seed, long step, Throwable cause) {
      super(message, cause);
      this.seed = seed;
      this.step = step;
    }

    public long seed() {
      return seed;
    }

    public long step() {
      return step;
    }
  }

  /**
   * Writes what reproduces a failed run to a new file in {@code directory}: the seed, the operation
   * count, the enabled types, every image change up to the failing step, and the failure. The
   * changes are replayed from the seed (the operations depend on the seed only, never on the
   * strategy's answers), so nothing is kept while a run passes.
   *
   * @param failingStep the step of the disagreement or of the {@link StrategyFailure}
   * @param failure what went wrong, e.g. the {@link Disagreement}'s text
   * @return the file written
   */
  public static Path writeFailure(Path directory, String strategy, int clusterBits, int enabledMask,
      long seed, long operations, long failingStep, String failure) throws IOException {
    Files.createDirectories(directory);
    Path file = directory.resolve(String.format("overlap-tck-failure-%s-bits%d-seed%d.txt",
        strategy, clusterBits, seed));
    try (PrintWriter out = new PrintWriter(Files.newBufferedWriter(file, StandardCharsets.UTF_8))) {
      out.printf("# overlap-tck differential run failure%n");
      out.printf("strategy %s%nclusterBits %d%nenabled [%s]%nseed %d%noperations %d%n", strategy,
          clusterBits, MetadataType.optionNames(enabledMask), seed, operations);
      out.printf("# reproduce: --strategy %s --seed %d --operations %d%n", strategy, seed,
          operations);
      out.printf("# image changes up to the failing step %d (step: operation)%n", failingStep);
      run(ReferenceModel::new, clusterBits, enabledMask, seed, failingStep + 1,
          (step, operation) -> out.printf("%d: %s%n", step, operation));
      out.printf("# failure%n%s%n", failure);
    }
    return file;
  }

  /** Receives each image change of a run, for {@link #writeFailure}. */
  private interface ChangeLog {
    void changed(long step, String operation);
  }

  private static Report run(Function<OverlapCheckerSetup, ? extends OverlapChecker> strategy,
      int clusterBits, int enabledMask, long seed, long operations, ChangeLog log) {
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
    long checks = 0;
    long[] hits = new long[MetadataType.values().length];
    for (long step = 0; step < operations; step++) {
      long offset = 0;
      long length = 0;
      try {
        if (random.nextInt(3) == 0) {
          operation = image.randomStep(random);
          if (log != null) {
            log.changed(step, operation);
          }
          checker.validate();
          if (++changes % VALIDATE_EVERY == 0) {
            image.validate();
          }
          continue;
        }
        long top = image.hostClusters();
        int where = random.nextInt(8);
        long cluster;
        if (where < 4) {
          cluster = image.randomClusterNearMetadata(random);
        } else if (where < 7) {
          cluster = (long) (random.nextDouble() * (top + 8));
        } else {
          cluster = (long) (random.nextDouble() * (2 * top + (1 << 17)));
        }
        offset = cluster << clusterBits;
        if (random.nextInt(4) == 0) {
          // A range that ends on the last byte before the cluster, or on its first byte.
          length = 1 + (long) (random.nextDouble() * 4 * clusterSize);
          offset = offset - length + random.nextInt(2);
          if (offset < 0) {
            length += offset;
            offset = 0;
          }
        } else {
          if (random.nextBoolean()) {
            offset += random.nextInt((int) clusterSize);
          }
          length = randomLength(random, clusterSize);
        }
        int ignored = random.nextBoolean() ? 0 : random.nextInt(MetadataType.ALL_MASK + 1);
        int expected = model.check(offset, length, ignored);
        int actual = checker.check(offset, length, ignored);
        checks++;
        for (int left = expected; left != 0; left &= left - 1) {
          hits[Integer.numberOfTrailingZeros(left)]++;
        }
        if (expected != actual) {
          return new Report(
              new Disagreement(seed, step, operation, offset, length, ignored, expected, actual),
              checks, changes, hits);
        }
      } catch (RuntimeException e) {
        throw new StrategyFailure(String.format(
            "seed %d (-D%s=%d), step %d, operation '%s', check offset %d length %d: %s",
            seed, SEED_PROPERTY, seed, step, operation, offset, length, e), seed, step, e);
      }
    }
    image.validate();
    return new Report(null, checks, changes, hits);
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

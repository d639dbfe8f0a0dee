package io.qcow2.overlap;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Answers, before every host write, whether the write would land on qcow2 metadata.
 *
 * <p>The engine reports where metadata lives with {@link #enter} and {@link #remove} as it creates,
 * moves and frees structures, and asks {@link #check} before each write. Strategies that scan the
 * image instead read {@link OverlapCheckerSetup#view()} and may ignore the events.
 *
 * <p>This class checks every argument and keeps the common statistics; a strategy implements the
 * three cluster-granular {@code protected} methods, which receive only valid, non-empty ranges and
 * non-empty masks restricted to the enabled types.
 *
 * <p><b>Not thread-safe.</b> A checker belongs to one open image; the engine serialises every call
 * (as QEMU does under the image's lock).
 */
public abstract class OverlapChecker {
  /**
   * Host offsets in qcow2 are below 2^56 (L1 and L2 entries keep offsets in bits 9-55); every
   * range given to a checker must end at or before this.
   */
  public static final long MAX_HOST_OFFSET = 1L << 56;

  /** {@link #stats()} key: calls to {@link #enter}. */
  public static final String STAT_ENTERS = "enters";
  /** {@link #stats()} key: calls to {@link #remove}. */
  public static final String STAT_REMOVES = "removes";
  /** {@link #stats()} key: calls to {@link #check}. */
  public static final String STAT_QUERIES = "queries";

  private final int clusterBits;
  private final int enabledMask;
  private long enters;
  private long removes;
  private long queries;

  protected OverlapChecker(OverlapCheckerSetup setup) {
    this.clusterBits = setup.clusterBits();
    this.enabledMask = setup.enabledMask();
  }

  /**
   * Records that metadata of {@code types} now occupies {@code clusters} clusters from {@code
   * offset}. Types that are not enabled are ignored. Entering a type already present is harmless:
   * the types on a cluster are a set, not a count, so a single {@link #remove} clears a type however
   * often it was entered.
   *
   * @throws IllegalArgumentException if {@code offset} is negative or not cluster-aligned, {@code
   *     clusters} is negative, the range ends beyond {@link #MAX_HOST_OFFSET}, or {@code types} is
   *     empty or has unknown bits
   */
  public final void enter(long offset, long clusters, int types) {
    checkClusterRange(offset, clusters);
    checkTypes(types);
    enters++;
    int enabled = types & enabledMask;
    if (clusters > 0 && enabled != 0) {
      enterClusters(offset >>> clusterBits, clusters, enabled);
    }
  }

  /**
   * Records that the clusters no longer hold metadata of {@code types}; other types there stay.
   * Removing a type that is not there is harmless.
   *
   * @throws IllegalArgumentException as {@link #enter}
   */
  public final void remove(long offset, long clusters, int types) {
    checkClusterRange(offset, clusters);
    checkTypes(types);
    removes++;
    int enabled = types & enabledMask;
    if (clusters > 0 && enabled != 0) {
      removeClusters(offset >>> clusterBits, clusters, enabled);
    }
  }

  /**
   * The enabled types, less {@code ignoredTypes}, that occupy any cluster touched by the byte range
   * {@code [offset, offset + length)}; the range is rounded out to whole clusters. 0 means the write
   * is safe; an empty range is always safe.
   *
   * @throws IllegalArgumentException if {@code offset} or {@code length} is negative, the range ends
   *     beyond {@link #MAX_HOST_OFFSET}, or {@code ignoredTypes} has unknown bits
   */
  public final int check(long offset, long length, int ignoredTypes) {
    if (offset < 0 || length < 0 || length > MAX_HOST_OFFSET - offset) {
      throw new IllegalArgumentException(String.format(
          "invalid range: offset %d, length %d (both must be >= 0, end <= 2^56)", offset, length));
    }
    MetadataType.checkMask(ignoredTypes, "ignoredTypes");
    queries++;
    int wanted = enabledMask & ~ignoredTypes;
    if (length == 0 || wanted == 0) {
      return 0;
    }
    long first = offset >>> clusterBits;
    long last = (offset + length - 1) >>> clusterBits;
    return checkClusters(first, last - first + 1, wanted) & wanted;
  }

  /** The types this checker protects. */
  public final int enabledMask() {
    return enabledMask;
  }

  public final int clusterBits() {
    return clusterBits;
  }

  /**
   * Counters, in a stable order: {@value #STAT_ENTERS}, {@value #STAT_REMOVES}, {@value
   * #STAT_QUERIES}, then the strategy's own.
   */
  public final Map<String, Long> stats() {
    Map<String, Long> stats = new LinkedHashMap<>();
    stats.put(STAT_ENTERS, enters);
    stats.put(STAT_REMOVES, removes);
    stats.put(STAT_QUERIES, queries);
    addStats(stats);
    return stats;
  }

  /**
   * Checks the strategy's internal invariants, for tests: the conformance kit calls it after every
   * change it makes. Default: nothing to check.
   *
   * @throws IllegalStateException describing the first invariant found broken
   */
  public void validate() {}

  /** Bytes of memory this checker holds, including the checker object itself. */
  public abstract long memoryBytes();

  /** Marks clusters {@code [first, first + count)} as holding {@code types}. */
  protected abstract void enterClusters(long first, long count, int types);

  /** Clears {@code types} from clusters {@code [first, first + count)}. */
  protected abstract void removeClusters(long first, long count, int types);

  /** The union of the types held by clusters {@code [first, first + count)}, within {@code wanted}. */
  protected abstract int checkClusters(long first, long count, int wanted);

  /** Adds the strategy's own counters to {@code stats}. */
  protected void addStats(Map<String, Long> stats) {}

  private void checkClusterRange(long offset, long clusters) {
    if (offset < 0 || (offset & ((1L << clusterBits) - 1)) != 0) {
      throw new IllegalArgumentException(String.format(
          "offset %d (0x%x) is negative or not aligned to the cluster size %d",
          offset, offset, 1L << clusterBits));
    }
    // Without this, an offset beyond 2^56 makes MAX_HOST_OFFSET - offset negative, and the
    // unsigned shift below turns it into a huge bound that every count passes.
    if (offset > MAX_HOST_OFFSET) {
      throw new IllegalArgumentException(String.format(
          "offset %d (0x%x) is beyond 2^56", offset, offset));
    }
    if (clusters < 0 || clusters > (MAX_HOST_OFFSET - offset) >>> clusterBits) {
      throw new IllegalArgumentException(String.format(
          "cluster count %d at offset 0x%x is negative or ends beyond 2^56", clusters, offset));
    }
  }

  private static void checkTypes(int types) {
    MetadataType.checkMask(types, "types");
    if (types == 0) {
      throw new IllegalArgumentException("types is empty: name at least one metadata type");
    }
  }
}

package io.qcow2.overlap.windowed;

import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerProvider;
import io.qcow2.overlap.OverlapCheckerSetup;
import io.qcow2.overlap.StrategyOption;
import java.util.List;
import java.util.Objects;

/**
 * The {@code windowed} strategy: per-window run-length fragment lists of metadata, with recently
 * used windows expanded into per-cluster type maps held in a small LRU cache. It tracks {@code
 * enter}/{@code remove} events and does not read the setup's view.
 *
 * <p>Options (in {@link OverlapCheckerSetup#options()}, declared by {@link #options()}):
 *
 * <ul>
 *   <li>{@value #WINDOW_SIZE_OPTION}: clusters per window, a power of two from 1 to
 *       {@value #MAX_WINDOW_SIZE}; default {@value #DEFAULT_WINDOW_SIZE};
 *   <li>{@value #CACHE_SIZE_OPTION}: byte budget of the cache of per-cluster maps, at
 *       least one window's map (2 bytes per cluster); default {@value #DEFAULT_CACHE_SIZE}.
 * </ul>
 *
 * <p>Checkers are <b>not thread-safe</b>: the engine serialises all calls per open image.
 */
public final class WindowedOverlapCheckerProvider implements OverlapCheckerProvider {
  /** The strategy's name. */
  public static final String NAME = "windowed";
  /** Option: clusters per window. */
  public static final String WINDOW_SIZE_OPTION = "overlap-window-size";
  /** Option: byte budget of the cache of per-cluster maps. */
  public static final String CACHE_SIZE_OPTION = "overlap-cache-size";
  /**
   * Largest window: a fragment's start within its window is stored in at most 16 bits (the series'
   * {@code relative_start} was a {@code uint16_t} too).
   */
  public static final int MAX_WINDOW_SIZE = 1 << 16;
  /** Default clusters per window; see the module README for the measurement behind it. */
  public static final int DEFAULT_WINDOW_SIZE = 4096;
  /** Default cache budget in bytes: 64 KiB, the series' default cache size. */
  public static final long DEFAULT_CACHE_SIZE = 64 * 1024;

  private static final List<StrategyOption> OPTIONS = List.of(
      new StrategyOption(WINDOW_SIZE_OPTION, "a power of two from 1 to " + MAX_WINDOW_SIZE,
          Integer.toString(DEFAULT_WINDOW_SIZE), "Clusters per window of fragment lists."),
      new StrategyOption(CACHE_SIZE_OPTION,
          "a byte count of at least one window's map (2 bytes per cluster)",
          Long.toString(DEFAULT_CACHE_SIZE), "Byte budget of the LRU cache of per-cluster type maps."));

  /** For {@link java.util.ServiceLoader}. */
  public WindowedOverlapCheckerProvider() {}

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public List<StrategyOption> options() {
    return OPTIONS;
  }

  /**
   * @throws IllegalArgumentException naming the option, its value and the allowed range if {@value
   *     #WINDOW_SIZE_OPTION} is not a power of two in [1, {@value #MAX_WINDOW_SIZE}] or
   *     {@value #CACHE_SIZE_OPTION} is not a number of at least one window's map
   */
  @Override
  public OverlapChecker create(OverlapCheckerSetup setup) {
    Objects.requireNonNull(setup, "setup");
    int windowSize = windowSize(setup.options().get(WINDOW_SIZE_OPTION));
    long cacheBytes = cacheSize(setup.options().get(CACHE_SIZE_OPTION), windowSize);
    return new WindowedOverlapChecker(setup, windowSize, cacheBytes);
  }

  private static int windowSize(String value) {
    if (value == null) {
      return DEFAULT_WINDOW_SIZE;
    }
    long size = parse(WINDOW_SIZE_OPTION, value,
        "a power of two from 1 to " + MAX_WINDOW_SIZE);
    if (size < 1 || size > MAX_WINDOW_SIZE || Long.bitCount(size) != 1) {
      throw new IllegalArgumentException(String.format(
          "Invalid value '%s' for option '%s': must be a power of two from 1 to %d",
          value, WINDOW_SIZE_OPTION, MAX_WINDOW_SIZE));
    }
    return (int) size;
  }

  private static long cacheSize(String value, int windowSize) {
    if (value == null) {
      return Math.max(DEFAULT_CACHE_SIZE, WindowedOverlapChecker.bitmapBytes(windowSize));
    }
    long minimum = WindowedOverlapChecker.bitmapBytes(windowSize);
    String allowed = String.format("a byte count from %d (one map of a %d-cluster window) to %d",
        minimum, windowSize, Long.MAX_VALUE);
    long size = parse(CACHE_SIZE_OPTION, value, allowed);
    if (size < minimum) {
      throw new IllegalArgumentException(String.format(
          "Invalid value '%s' for option '%s': must be %s", value, CACHE_SIZE_OPTION,
          allowed));
    }
    return size;
  }

  private static long parse(String option, String value, String allowed) {
    try {
      return Long.parseLong(value.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(String.format(
          "Invalid value '%s' for option '%s': not a number; must be %s", value, option, allowed), e);
    }
  }
}

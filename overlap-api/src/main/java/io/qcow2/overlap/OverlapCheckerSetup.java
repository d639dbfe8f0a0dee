package io.qcow2.overlap;

import java.util.Map;
import java.util.Objects;

/**
 * What a strategy is created with.
 *
 * @param clusterBits log2 of the image's cluster size, 9 (512 B) to 21 (2 MiB)
 * @param enabledMask the types to protect; {@code check} never reports others
 * @param view the image's live metadata, for strategies that scan instead of tracking events
 * @param options the open options; a strategy reads the ones it declares in {@link
 *     OverlapCheckerProvider#options()} and ignores the rest
 */
public record OverlapCheckerSetup(
    int clusterBits, int enabledMask, MetadataView view, Map<String, String> options) {
  /** Smallest qcow2 cluster size: 512 bytes. */
  public static final int MIN_CLUSTER_BITS = 9;
  /** Largest qcow2 cluster size: 2 MiB. */
  public static final int MAX_CLUSTER_BITS = 21;
  /**
   * Option: clusters per window of the windowed strategy.
   *
   * @deprecated a strategy's options belong to it: the windowed provider declares this key in
   *     {@link OverlapCheckerProvider#options()}; kept so that existing callers compile
   */
  @Deprecated
  public static final String WINDOW_SIZE = "overlap-window-size";
  /**
   * Option: byte budget of the windowed strategy's bitmap cache.
   *
   * @deprecated as {@link #WINDOW_SIZE}
   */
  @Deprecated
  public static final String CACHE_SIZE = "overlap-cache-size";

  public OverlapCheckerSetup {
    if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
      throw new IllegalArgumentException(String.format(
          "clusterBits %d out of range [%d, %d]", clusterBits, MIN_CLUSTER_BITS, MAX_CLUSTER_BITS));
    }
    MetadataType.checkMask(enabledMask, "enabledMask");
    Objects.requireNonNull(view, "view");
    options = Map.copyOf(options);
  }

  /** A setup with the enabled mask taken from the overlap-check options in {@code options}. */
  public static OverlapCheckerSetup fromOptions(
      int clusterBits, MetadataView view, Map<String, String> options) {
    return new OverlapCheckerSetup(
        clusterBits, OverlapCheckOptions.enabledMask(options), view, options);
  }

  public int clusterSize() {
    return 1 << clusterBits;
  }
}

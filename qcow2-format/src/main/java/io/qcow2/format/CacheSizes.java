package io.qcow2.format;

import com.google.common.collect.ImmutableList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The metadata cache sizes of an open image, from QEMU's open options {@code l2-cache-size},
 * {@code refcount-cache-size} and {@code cache-size} (bytes, or a number with a binary suffix
 * {@code k M G T}), resolved as QEMU's {@code read_cache_sizes} does (block/qcow2.c).
 *
 * @param l2Tables L2 tables kept between operations
 * @param refcountBlocks refcount blocks kept between operations
 */
record CacheSizes(int l2Tables, int refcountBlocks) {
  static final String L2_CACHE_SIZE = "l2-cache-size";
  static final String REFCOUNT_CACHE_SIZE = "refcount-cache-size";
  static final String CACHE_SIZE = "cache-size";
  /** The open options the engine reads itself (beside the overlap checks'). */
  static final List<String> OPTION_NAMES = ImmutableList.of(L2_CACHE_SIZE, REFCOUNT_CACHE_SIZE, CACHE_SIZE);

  /** QEMU's DEFAULT_L2_CACHE_MAX_SIZE (Linux): 32 MiB. */
  static final long DEFAULT_L2_CACHE_MAX_BYTES = 32L << 20;
  /** QEMU's MIN_L2_CACHE_SIZE, in clusters. */
  static final int MIN_L2_TABLES = 2;
  /** QEMU's MIN_REFCOUNT_CACHE_SIZE, in clusters. */
  static final int MIN_REFCOUNT_BLOCKS = 4;
  /** Bounds the cache's slot arrays (2^24 one-cluster tables: 8 GiB of 512-byte clusters). */
  static final long MAX_TABLES = 1L << 24;

  /** The open options without the cache sizes, for the overlap-check option checks. */
  static Map<String, String> withoutCacheOptions(Map<String, String> options) {
    Map<String, String> rest = new HashMap<>(options);
    OPTION_NAMES.forEach(rest::remove);
    return rest;
  }

  /**
   * The sizes the options select for an image of {@code virtualSize} bytes.
   *
   * @throws IllegalArgumentException for a malformed size or a combination QEMU refuses
   */
  static CacheSizes resolve(Map<String, String> options, long virtualSize, int clusterBits) {
    long clusterSize = 1L << clusterBits;
    String l2Text = options.get(L2_CACHE_SIZE);
    String refcountText = options.get(REFCOUNT_CACHE_SIZE);
    String combinedText = options.get(CACHE_SIZE);
    long l2 = l2Text == null ? 0 : parse(L2_CACHE_SIZE, l2Text);
    long refcount = refcountText == null ? 0 : parse(REFCOUNT_CACHE_SIZE, refcountText);
    long maxL2 = roundUp(Math.max(1, ceilDiv(virtualSize, clusterSize)) * 8, clusterSize);
    long minRefcount = MIN_REFCOUNT_BLOCKS * clusterSize;
    if (combinedText != null) {
      long combined = parse(CACHE_SIZE, combinedText);
      if (l2Text != null && refcountText != null) {
        throw new IllegalArgumentException(
            "cache-size, l2-cache-size and refcount-cache-size may not be set at the same time");
      } else if (l2Text != null && l2 > combined) {
        throw new IllegalArgumentException("l2-cache-size may not exceed cache-size");
      } else if (refcount > combined) {
        throw new IllegalArgumentException("refcount-cache-size may not exceed cache-size");
      }
      if (l2Text != null) {
        refcount = combined - l2;
        refcountText = combinedText;
      } else if (refcountText != null) {
        l2 = combined - refcount;
        l2Text = combinedText;
      } else if (combined >= maxL2 + minRefcount) {
        // As much as possible for the L2 cache, the rest for refcounts.
        l2 = maxL2;
        refcount = combined - l2;
      } else {
        refcount = Math.min(combined, minRefcount);
        l2 = combined - refcount;
      }
      l2Text = combinedText;
      refcountText = combinedText;
    }
    if (l2Text == null) {
      l2 = Math.min(DEFAULT_L2_CACHE_MAX_BYTES, maxL2);
    }
    if (refcountText == null) {
      // QEMU 2.x's default (DEFAULT_L2_REFCOUNT_SIZE_RATIO): a quarter of the L2 cache, at least
      // QEMU's minimum. QEMU 7.2 keeps only the minimum, but it reads refcount blocks through the
      // page cache at no CPU cost to speak of; re-reading them here costs the W3 workload a third
      // more engine time (bench GateCatchesTwentyPercentTest).
      refcount = Math.max(minRefcount, l2 / 4);
    }
    long l2Tables = Math.max(MIN_L2_TABLES, l2 / clusterSize);
    long refcountBlocks = Math.max(MIN_REFCOUNT_BLOCKS, refcount / clusterSize);
    return new CacheSizes((int) Math.min(MAX_TABLES, l2Tables), (int) Math.min(MAX_TABLES, refcountBlocks));
  }

  /** A size as QEMU's option parser reads it: bytes, or a number with k, M, G, T (binary). */
  static long parse(String option, String text) {
    String t = text.trim();
    int shift = 0;
    if (!t.isEmpty()) {
      switch (t.toLowerCase(Locale.ROOT).charAt(t.length() - 1)) {
        case 'b': shift = 0; t = t.substring(0, t.length() - 1); break;
        case 'k': shift = 10; t = t.substring(0, t.length() - 1); break;
        case 'm': shift = 20; t = t.substring(0, t.length() - 1); break;
        case 'g': shift = 30; t = t.substring(0, t.length() - 1); break;
        case 't': shift = 40; t = t.substring(0, t.length() - 1); break;
        default: break;
      }
    }
    long value;
    try {
      value = Long.parseLong(t);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(String.format(
          "Parameter '%s' expects a size (bytes, or a number with k, M, G, T), not '%s'", option, text));
    }
    if (value < 0 || value > (Long.MAX_VALUE >> shift)) {
      throw new IllegalArgumentException(String.format(
          "Parameter '%s' expects a non-negative size below 2^63, not '%s'", option, text));
    }
    return value << shift;
  }

  private static long ceilDiv(long a, long b) {
    return (a + b - 1) / b;
  }

  private static long roundUp(long a, long b) {
    return ceilDiv(a, b) * b;
  }
}

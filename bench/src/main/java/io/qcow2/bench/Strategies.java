package io.qcow2.bench;

import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import io.qcow2.overlap.OverlapCheckers;
import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/** The strategy names benchmarks are parameterised by, and how a benchmark gets its checker. */
final class Strategies {
  /** The zero-cost baseline: no checker is built and every write is allowed. */
  static final String NONE = "none";

  /**
   * The values of every benchmark's {@code strategy} {@code @Param}; a test asserts this equals
   * {@code {none}} plus {@link OverlapCheckers#names()}, so a new strategy cannot be forgotten.
   */
  static final List<String> PARAM_VALUES = List.of(NONE, "legacy", "windowed");

  /** none first, then legacy, then the rest alphabetically, outside references last. */
  static final Comparator<String> ORDER = Comparator
      .comparingInt((String s) -> s.equals(NONE) ? 0 : s.equals("legacy") ? 1 : isOutside(s) ? 3 : 2)
      .thenComparing(Comparator.naturalOrder());

  private Strategies() {}

  /** Whether the "strategy" is an outside tool measured for reference, not one of ours. */
  static boolean isOutside(String name) {
    return name.startsWith(OutsideReference.LABEL_PREFIX);
  }

  /**
   * A checker of strategy {@code name} protecting every metadata type (overlap-check=all), or
   * {@code null} for {@link #NONE}.
   *
   * @throws IllegalArgumentException if no strategy has that name
   */
  static OverlapChecker create(
      String name, int clusterBits, MetadataView view, Map<String, String> options) {
    if (name.equals(NONE)) {
      return null;
    }
    return OverlapCheckers.load(name)
        .create(new OverlapCheckerSetup(clusterBits, MetadataType.ALL_MASK, view, options));
  }
}

package io.qcow2.bench;

import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import io.qcow2.overlap.OverlapCheckers;
import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * The strategy names benchmarks are parameterised by, found when the benchmarks run, and how a
 * benchmark gets its checker. No benchmark lists strategies at compile time: their {@code strategy}
 * {@code @Param} holds only {@link #FOUND_AT_RUN_TIME}, and the runner passes {@link #names()}
 * (JMH's {@code -p strategy=}),
 * so a strategy jar on the class path or the strategy path ({@value
 * OverlapCheckers#STRATEGY_PATH_PROPERTY}) is benchmarked without an edit here.
 */
final class Strategies {
  /** The zero-cost baseline: no checker is built and every write is allowed. */
  static final String NONE = "none";
  /**
   * The only compile-time value of every benchmark's {@code strategy} param (JMH requires one): a
   * placeholder the runner always replaces with {@link #names()}. Run directly, a benchmark fails
   * with the names to pass as {@code -p strategy=...}.
   */
  static final String FOUND_AT_RUN_TIME = "found-at-run-time";


  /** none first, then legacy, then the rest alphabetically, outside references last. */
  static final Comparator<String> ORDER = Comparator
      .comparingInt((String s) -> s.equals(NONE) ? 0 : s.equals("legacy") ? 1 : isOutside(s) ? 3 : 2)
      .thenComparing(Comparator.naturalOrder());

  private Strategies() {}

  /**
   * {@link #NONE} and every strategy {@link OverlapCheckers#names()} finds now but the bench's own
   * timing wrapper ({@link ProbeProvider}), in {@link #ORDER}:
   * the values of every benchmark's {@code strategy} param.
   */
  static List<String> names() {
    List<String> names = new ArrayList<>();
    names.add(NONE);
    names.addAll(OverlapCheckers.names());
    names.remove(ProbeProvider.NAME);
    names.sort(ORDER);
    return List.copyOf(names);
  }

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
    if (name.equals(FOUND_AT_RUN_TIME)) {
      throw new IllegalArgumentException("The strategy param is found at run time: run the suite "
          + "through AbReport or RegressionGate, or pass -p strategy=" + String.join(",", names()));
    }
    return OverlapCheckers.load(name)
        .create(new OverlapCheckerSetup(clusterBits, MetadataType.ALL_MASK, view, options));
  }
}

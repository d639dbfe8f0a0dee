package io.qcow2.overlap;

import java.util.List;

/**
 * A strategy, found by {@link java.util.ServiceLoader}. Implementations are declared both in
 * {@code module-info.java} ({@code provides}) and in {@code META-INF/services}.
 */
public interface OverlapCheckerProvider {
  /** The strategy's name: lower-case letters, digits and dashes, starting with a letter. */
  String name();

  /**
   * A new checker for one image.
   *
   * @throws IllegalArgumentException if an option meant for this strategy is invalid
   */
  OverlapChecker create(OverlapCheckerSetup setup);

  /**
   * The open options this strategy reads from {@link OverlapCheckerSetup#options()}. The engine
   * accepts exactly these keys beside its own while this strategy is selected, and rejects any
   * other key with the list of what is accepted. Default: none.
   */
  default List<StrategyOption> options() {
    return List.of();
  }
}

package io.qcow2.format;

import io.qcow2.overlap.OverlapCheckers;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Open options for tests: every strategy on the class path, the test-map one included. */
public final class TestOptions {
  private TestOptions() {}

  /** Every strategy name found, sorted. */
  public static List<String> strategies() {
    return List.copyOf(OverlapCheckers.names());
  }

  /**
   * The strategy tests use when they do not iterate over all of them: {@code test-agree}, which
   * runs every strategy side by side and fails when they disagree.
   */
  public static String defaultStrategy() {
    return AgreeingOverlapChecker.NAME;
  }

  public static Map<String, String> open(String strategy) {
    Map<String, String> options = new HashMap<>();
    options.put(OverlapCheckers.STRATEGY_OPTION, strategy);
    return options;
  }

  public static Map<String, String> open() {
    return open(defaultStrategy());
  }

  public static Map<String, String> openAll(String strategy) {
    Map<String, String> options = open(strategy);
    options.put("overlap-check", "all");
    return options;
  }
}

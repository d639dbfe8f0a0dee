package io.qcow2.bench;

import java.util.Set;

/** The strategies registered only on the test class path (test resources' META-INF/services). */
final class TestStrategies {
  static final Set<String> NAMES = Set.of(SlowedWindowedProvider.NAME, FixedBurnProvider.NAME,
      FixedBurnProvider.EMPTY,
      SlowerChecksProvider.NAME, SlowerW3Provider.NAME);

  private TestStrategies() {}
}

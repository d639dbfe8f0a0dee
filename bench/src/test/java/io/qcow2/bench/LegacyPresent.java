package io.qcow2.bench;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.qcow2.overlap.OverlapCheckers;

/** Until overlap-legacy is merged into this branch, tests that need it are skipped. */
final class LegacyPresent {
  private LegacyPresent() {}

  static void assume() {
    assumeTrue(OverlapCheckers.names().contains("legacy"), "overlap-legacy not merged yet");
  }
}

package io.qcow2.overlap.legacy;

import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import io.qcow2.overlap.tck.OverlapCheckerConformanceTest;

/** The legacy strategy passes the conformance suite, including the differential test. */
class LegacyConformanceTest extends OverlapCheckerConformanceTest {
  @Override
  protected OverlapChecker create(OverlapCheckerSetup setup) {
    return new LegacyOverlapCheckerProvider().create(setup);
  }
}

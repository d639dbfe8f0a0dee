package io.qcow2.overlap.legacy;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import io.qcow2.overlap.tck.SimulatedImage;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.openjdk.jol.info.ClassLayout;

/** memoryBytes() is the checker's measured shallow size, and does not grow with the image. */
class LegacyFootprintTest {
  @Test
  void memoryBytesIsTheMeasuredShallowSize() {
    long measured = ClassLayout.parseClass(LegacyOverlapChecker.class).instanceSize();
    assertEquals(measured, LegacyOverlapChecker.SHALLOW_BYTES,
        "re-measure SHALLOW_BYTES after changing the fields");
  }

  @Test
  void memoryBytesDoesNotGrowWithTheImage() {
    SimulatedImage image = SimulatedImage.withL2Tables(9, 10_000);
    OverlapChecker checker = new LegacyOverlapChecker(
        new OverlapCheckerSetup(9, MetadataType.ALL_MASK, image, Map.of()));
    long before = checker.memoryBytes();
    image.attach(checker);
    image.allocateL2(0);
    image.addSnapshot();
    assertEquals(before, checker.memoryBytes());
  }
}

package io.qcow2.overlap.windowed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckers;
import java.io.IOException;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The SPI example of the top-level README, kept compiling and true. */
class ReadmeExampleTest {
  @Test
  void readmeExampleRefusesTheWriteIntoTheL2Table() {
    MetadataView view = MetadataView.EMPTY;
    IOException refused = assertThrows(IOException.class, () -> {
      // --- README example starts
      Map<String, String> options = Map.of("overlap-strategy", "windowed", "overlap-check", "all");
      OverlapChecker checker = OverlapCheckers.create(options, 16, view).orElseThrow(); // 64 KiB clusters
      checker.enter(0, 1, MetadataType.MAIN_HEADER.mask());            // the header lives in cluster 0
      checker.enter(0x30000, 1, MetadataType.ACTIVE_L2.mask());        // an L2 table at 192 KiB
      int hit = checker.check(0x30000 + 512, 4096, 0);                 // a guest write into it?
      if (hit != 0) {
        throw new IOException("Preventing invalid write on metadata (overlaps with "
            + MetadataType.describe(hit) + ")");
      }
      // --- README example ends
    });
    assertEquals("Preventing invalid write on metadata (overlaps with active L2 table)",
        refused.getMessage());
  }
}

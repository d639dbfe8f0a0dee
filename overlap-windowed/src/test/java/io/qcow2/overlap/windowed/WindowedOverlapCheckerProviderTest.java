package io.qcow2.overlap.windowed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerProvider;
import io.qcow2.overlap.OverlapCheckerSetup;
import io.qcow2.overlap.OverlapCheckers;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class WindowedOverlapCheckerProviderTest {
  private static OverlapCheckerSetup setup(Map<String, String> options) {
    return new OverlapCheckerSetup(16, MetadataType.ALL_MASK, MetadataView.EMPTY, options);
  }

  @Test
  void foundByName() {
    OverlapCheckerProvider provider = OverlapCheckers.load("windowed");
    assertEquals(WindowedOverlapCheckerProvider.class, provider.getClass());
    assertTrue(provider.create(setup(Map.of())) instanceof WindowedOverlapChecker);
  }

  @Test
  void defaults() {
    WindowedOverlapChecker checker =
        (WindowedOverlapChecker) new WindowedOverlapCheckerProvider().create(setup(Map.of()));
    assertEquals(WindowedOverlapCheckerProvider.DEFAULT_WINDOW_SIZE, checker.windowSize());
    assertEquals(WindowedOverlapCheckerProvider.DEFAULT_CACHE_SIZE
        / WindowedOverlapChecker.bitmapBytes(checker.windowSize()), checker.cacheCapacity());
  }

  @Test
  void cacheLinesHoldBlocksOfAtMost4096Clusters() {
    WindowedOverlapChecker checker = (WindowedOverlapChecker) new WindowedOverlapCheckerProvider()
        .create(setup(Map.of(OverlapCheckerSetup.WINDOW_SIZE, "65536")));
    assertEquals(8, checker.cacheCapacity());
    checker = (WindowedOverlapChecker) new WindowedOverlapCheckerProvider().create(setup(Map.of(
        OverlapCheckerSetup.WINDOW_SIZE, "65536", OverlapCheckerSetup.CACHE_SIZE, "8192")));
    assertEquals(1, checker.cacheCapacity());
  }

  @ParameterizedTest
  @ValueSource(strings = {"0", "-8", "3", "96", "131072", "4294967296", "lots", "", "0x1000"})
  void rejectsInvalidWindowSize(String value) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new WindowedOverlapCheckerProvider().create(
            setup(Map.of(OverlapCheckerSetup.WINDOW_SIZE, value))));
    assertTrue(e.getMessage().contains("'" + OverlapCheckerSetup.WINDOW_SIZE + "'"), e.getMessage());
    assertTrue(e.getMessage().contains("'" + value + "'"), e.getMessage());
    assertTrue(e.getMessage().contains("power of two from 1 to 65536"), e.getMessage());
  }

  @ParameterizedTest
  @ValueSource(strings = {"0", "-1", "8191", "64k", "1.5", ""})
  void rejectsInvalidCacheSize(String value) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new WindowedOverlapCheckerProvider().create(setup(Map.of(
            OverlapCheckerSetup.WINDOW_SIZE, "4096", OverlapCheckerSetup.CACHE_SIZE, value))));
    assertTrue(e.getMessage().contains("'" + OverlapCheckerSetup.CACHE_SIZE + "'"), e.getMessage());
    assertTrue(e.getMessage().contains("'" + value + "'"), e.getMessage());
    assertTrue(e.getMessage().contains("from 8192"), e.getMessage());
  }

  @Test
  void hugeCacheBudgetAllocatesOnlyWhatIsUsed() {
    OverlapChecker checker = new WindowedOverlapCheckerProvider().create(setup(Map.of(
        OverlapCheckerSetup.WINDOW_SIZE, "8", OverlapCheckerSetup.CACHE_SIZE, Long.toString(Long.MAX_VALUE))));
    checker.enter(0, 100, MetadataType.ACTIVE_L2.mask());
    assertTrue(checker.memoryBytes() < 4096, "memory " + checker.memoryBytes());
    ((WindowedOverlapChecker) checker).validate();
  }
}

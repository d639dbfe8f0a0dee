package io.qcow2.overlap.legacy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapCheckMode;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import io.qcow2.overlap.OverlapCheckers;
import io.qcow2.overlap.tck.ServiceDeclarations;
import io.qcow2.overlap.tck.SimulatedImage;
import java.lang.reflect.Modifier;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

class LegacyProviderTest {
  @Test
  void moduleInfoAndServicesFileDeclareTheSameProviders() throws Exception {
    ServiceDeclarations.assertAgree(Path.of("target", "classes"));
  }

  @Test
  void serviceLoaderFindsLegacyOnTheClassPath() {
    assertTrue(OverlapCheckers.names().contains("legacy"), OverlapCheckers.names().toString());
    assertInstanceOf(LegacyOverlapCheckerProvider.class, OverlapCheckers.load("legacy"));
    SimulatedImage image = new SimulatedImage(16);
    OverlapChecker checker = OverlapCheckers.create(
        Map.of(OverlapCheckers.STRATEGY_OPTION, "legacy", "overlap-check", "all"), 16, image)
        .orElseThrow();
    assertInstanceOf(LegacyOverlapChecker.class, checker);
    assertEquals(OverlapCheckMode.ALL.mask(), checker.enabledMask());
    assertEquals(MetadataType.MAIN_HEADER.mask(), checker.check(0, 1, 0));
  }

  @Test
  void providerIsPublicAndTheCheckerIsNot() throws Exception {
    assertTrue(Modifier.isPublic(LegacyOverlapCheckerProvider.class.getModifiers()));
    assertTrue(Modifier.isPublic(LegacyOverlapCheckerProvider.class.getConstructor().getModifiers()));
    int modifiers = LegacyOverlapChecker.class.getModifiers();
    assertTrue(!Modifier.isPublic(modifiers) && Modifier.isFinal(modifiers));
  }

  @Test
  void eventsAreCountedButChangeNothing() {
    SimulatedImage image = new SimulatedImage(12);
    OverlapChecker checker = new LegacyOverlapCheckerProvider().create(
        new OverlapCheckerSetup(12, MetadataType.ALL_MASK, image, Map.of()));
    long far = (image.hostClusters() + 100) << 12;
    checker.enter(far, 4, MetadataType.ACTIVE_L2.mask());
    assertEquals(0, checker.check(far, 4096, 0));
    checker.remove(0, 1, MetadataType.MAIN_HEADER.mask());
    assertEquals(MetadataType.MAIN_HEADER.mask(), checker.check(0, 1, 0));
    Map<String, Long> stats = checker.stats();
    assertEquals(1L, stats.get(OverlapChecker.STAT_ENTERS));
    assertEquals(1L, stats.get(OverlapChecker.STAT_REMOVES));
    assertEquals(2L, stats.get(OverlapChecker.STAT_QUERIES));
    assertEquals(LegacyOverlapChecker.SHALLOW_BYTES, checker.memoryBytes());
  }
}

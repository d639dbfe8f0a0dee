package io.qcow2.overlap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.tck.ReferenceModel;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class OverlapCheckersTest {
  private final String savedProperty = System.getProperty(OverlapCheckers.STRATEGY_PROPERTY);

  @AfterEach
  void restoreProperty() {
    if (savedProperty == null) {
      System.clearProperty(OverlapCheckers.STRATEGY_PROPERTY);
    } else {
      System.setProperty(OverlapCheckers.STRATEGY_PROPERTY, savedProperty);
    }
  }

  @Test
  void loadsTheRegisteredProviderByName() {
    assertTrue(OverlapCheckers.names().contains(TestOverlapCheckerProvider.NAME));
    OverlapCheckerProvider provider = OverlapCheckers.load(TestOverlapCheckerProvider.NAME);
    assertEquals(TestOverlapCheckerProvider.NAME, provider.name());
    OverlapChecker checker = provider.create(
        new OverlapCheckerSetup(9, MetadataType.ALL_MASK, MetadataView.EMPTY, Map.of()));
    assertInstanceOf(ReferenceModel.class, checker);
  }

  @Test
  void unknownNameListsTheNamesFound() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> OverlapCheckers.load("no-such-strategy"));
    assertTrue(e.getMessage().contains("'no-such-strategy' not found"), e.getMessage());
    assertTrue(e.getMessage().contains(TestOverlapCheckerProvider.NAME), e.getMessage());
  }

  @Test
  void selectedNameHonoursOptionThenPropertyThenDefault() {
    System.clearProperty(OverlapCheckers.STRATEGY_PROPERTY);
    assertEquals(OverlapCheckers.DEFAULT_STRATEGY, OverlapCheckers.selectedName(Map.of()));
    System.setProperty(OverlapCheckers.STRATEGY_PROPERTY, "from-property");
    assertEquals("from-property", OverlapCheckers.selectedName(Map.of()));
    assertEquals("from-option", OverlapCheckers.selectedName(
        Map.of(OverlapCheckers.STRATEGY_OPTION, "from-option")));
  }

  @Test
  void createBuildsTheSelectedCheckerOrNoneForModeNone() {
    Map<String, String> options = Map.of(OverlapCheckers.STRATEGY_OPTION,
        TestOverlapCheckerProvider.NAME, "overlap-check", "constant");
    Optional<OverlapChecker> checker = OverlapCheckers.create(options, 16, MetadataView.EMPTY);
    assertEquals(OverlapCheckMode.CONSTANT.mask(), checker.orElseThrow().enabledMask());
    assertEquals(16, checker.orElseThrow().clusterBits());
    assertTrue(OverlapCheckers.create(Map.of(OverlapCheckers.STRATEGY_OPTION,
        TestOverlapCheckerProvider.NAME, "overlap-check", "none"), 16, MetadataView.EMPTY)
        .isEmpty());
    assertThrows(IllegalArgumentException.class, () -> OverlapCheckers.create(
        Map.of(OverlapCheckers.STRATEGY_OPTION, "nope"), 16, MetadataView.EMPTY));
  }
}

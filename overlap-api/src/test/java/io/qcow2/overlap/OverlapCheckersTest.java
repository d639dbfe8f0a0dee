package io.qcow2.overlap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
    assertInstanceOf(TestOverlapCheckerProvider.MapChecker.class, checker);
  }

  @Test
  void unknownNameListsTheNamesFound() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> OverlapCheckers.load("no-such-strategy"));
    assertTrue(e.getMessage().contains("'no-such-strategy' not found"), e.getMessage());
    assertTrue(e.getMessage().contains(TestOverlapCheckerProvider.NAME), e.getMessage());
  }

  @Test
  void namesAreCachedNotReloadedPerCall() {
    assertSame(OverlapCheckers.load(TestOverlapCheckerProvider.NAME),
        OverlapCheckers.load(TestOverlapCheckerProvider.NAME));
    assertTrue(OverlapCheckers.origin(TestOverlapCheckerProvider.NAME).isPresent());
    assertFalse(OverlapCheckers.isFromStrategyPath(TestOverlapCheckerProvider.NAME));
  }

  @Test
  void optionNamesAreTheEnginesPlusTheSelectedStrategys() {
    OverlapCheckers.checkOptionNames(Map.of(OverlapCheckers.STRATEGY_OPTION,
        TestOverlapCheckerProvider.NAME, "overlap-check", "all", "overlap-check.inactive-l2", "on",
        TestOverlapCheckerProvider.OPTION.name(), "on"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> OverlapCheckers.checkOptionNames(Map.of(OverlapCheckers.STRATEGY_OPTION,
            TestOverlapCheckerProvider.NAME, "overlap-window-size", "8")));
    assertTrue(e.getMessage().contains("'overlap-window-size'"), e.getMessage());
    assertTrue(e.getMessage().contains("strategy '" + TestOverlapCheckerProvider.NAME
        + "' also accepts " + TestOverlapCheckerProvider.OPTION.name()), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> OverlapCheckers.checkOptionNames(
        Map.of(OverlapCheckers.STRATEGY_OPTION, "no-such-strategy")));
    assertTrue(e.getMessage().contains("'no-such-strategy' not found"), e.getMessage());
  }

  @Test
  void aStrategyPathEntryThatIsNoDirectoryOrJarIsNamed() {
    String saved = System.getProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY);
    System.setProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY, "/no/such/dir");
    try {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          OverlapCheckers::names);
      assertTrue(e.getMessage().contains("'/no/such/dir'"), e.getMessage());
    } finally {
      if (saved == null) {
        System.clearProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY);
      } else {
        System.setProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY, saved);
      }
    }
    assertTrue(OverlapCheckers.names().contains(TestOverlapCheckerProvider.NAME));
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

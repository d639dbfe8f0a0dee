package io.qcow2.overlap.tck;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerProvider;
import io.qcow2.overlap.OverlapCheckers;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link OverlapCheckers} with the strategy path: jars compiled here against overlap-api only are
 * loaded, cached per path, reloaded when the path changes, and clashes name both jars. (Tested here
 * rather than in overlap-api because building a jar needs {@link StrategyJar}.)
 */
class StrategyPathTest {
  private final String saved = System.getProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY);

  @TempDir Path dir;

  @AfterEach
  void restore() {
    if (saved == null) {
      System.clearProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY);
    } else {
      System.setProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY, saved);
    }
  }

  private static void path(Path... entries) {
    StringBuilder path = new StringBuilder();
    for (Path entry : entries) {
      path.append(path.length() == 0 ? "" : File.pathSeparator).append(entry);
    }
    System.setProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY, path.toString());
  }

  @Test
  void jarsInThePathAreLoadedCachedAndDroppedWhenThePathChanges() throws Exception {
    Path jar = OutsideStrategies.interval(dir, "outside-interval", false);
    assertFalse(OverlapCheckers.names().contains("outside-interval"));
    path(dir);
    assertTrue(OverlapCheckers.names().contains("outside-interval"), OverlapCheckers.names()::toString);
    assertTrue(OverlapCheckers.isFromStrategyPath("outside-interval"));
    assertEquals(jar, OverlapCheckers.origin("outside-interval").orElseThrow());
    OverlapCheckerProvider provider = OverlapCheckers.load("outside-interval");
    assertSame(provider, OverlapCheckers.load("outside-interval"), "loaded once per path");
    assertEquals("interval-knob", provider.options().get(0).name());
    OverlapChecker checker = OverlapCheckers.create(Map.of(OverlapCheckers.STRATEGY_OPTION,
        "outside-interval", "overlap-check", "all"), 9, MetadataView.EMPTY).orElseThrow();
    checker.enter(512 * 10, 3, MetadataType.ACTIVE_L2.mask());
    assertEquals(MetadataType.ACTIVE_L2.mask(), checker.check(512 * 12, 1, 0));
    OverlapCheckers.checkOptionNames(Map.of(OverlapCheckers.STRATEGY_OPTION, "outside-interval",
        "interval-knob", "on"));

    System.clearProperty(OverlapCheckers.STRATEGY_PATH_PROPERTY);
    assertFalse(OverlapCheckers.names().contains("outside-interval"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> OverlapCheckers.load("outside-interval"));
    assertTrue(e.getMessage().contains("'outside-interval' not found"), e.getMessage());
  }

  @Test
  void aJarNamedDirectlyIsLoadedToo() throws Exception {
    Path jar = OutsideStrategies.named(dir, "one.jar", "outside.one.OneProvider", "outside-one");
    path(jar);
    assertTrue(OverlapCheckers.names().contains("outside-one"));
  }

  @Test
  void twoProvidersWithOneNameFailNamingBothJars() throws Exception {
    Path a = OutsideStrategies.named(dir, "a.jar", "outside.a.AProvider", "outside-twin");
    Path b = OutsideStrategies.named(dir, "b.jar", "outside.b.BProvider", "outside-twin");
    path(dir);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, OverlapCheckers::names);
    assertTrue(e.getMessage().contains("'outside-twin'") && e.getMessage().contains(a.toString())
        && e.getMessage().contains(b.toString()), e.getMessage());
  }

  @Test
  void oneProviderClassInTwoJarsFailsNamingBothJars() throws Exception {
    Path a = OutsideStrategies.named(dir, "v1.jar", "outside.v.VProvider", "outside-v");
    Path b = OutsideStrategies.named(dir, "v2.jar", "outside.v.VProvider", "outside-v");
    path(dir);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, OverlapCheckers::names);
    assertTrue(e.getMessage().contains("outside.v.VProvider") && e.getMessage().contains(a.toString())
        && e.getMessage().contains(b.toString()), e.getMessage());
  }

  @Test
  void anInvalidNameIsRejectedNamingTheJar() throws Exception {
    Path jar = OutsideStrategies.named(dir, "bad.jar", "outside.bad.BadProvider", "Bad Name");
    path(dir);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, OverlapCheckers::names);
    assertTrue(e.getMessage().contains("'Bad Name'") && e.getMessage().contains(jar.toString()),
        e.getMessage());
  }

  @Test
  void aPathEntryThatIsNeitherDirectoryNorJarIsNamed() throws Exception {
    Path file = Files.writeString(dir.resolve("notes.txt"), "not a jar");
    path(file);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, OverlapCheckers::names);
    assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
  }
}

package io.qcow2.format.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.qcow2.format.ExpectedMetadata;
import io.qcow2.format.QemuTools;
import io.qcow2.format.TestImages;
import io.qcow2.overlap.OverlapCheckMode;
import io.qcow2.overlap.OverlapCheckers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The commands on images made by qemu-img and qemu-io (several cluster sizes, refcount widths 1, 8,
 * 16 and 64, compat 0.10 and 1.1, internal snapshots, a backing chain, a compressed image):
 * {@code convert} equals {@code qemu-img convert -O raw}, {@code map} equals {@code qemu-img map},
 * and {@code metadata} lists exactly the structures the image has, for every strategy.
 */
class CliIntegrationTest {
  @TempDir static Path dir;
  private static final Map<String, Path> BUILT = new ConcurrentHashMap<>();

  @BeforeAll
  static void qemu() {
    QemuTools.assumeAvailable();
  }

  static Stream<TestImages.Named> images() {
    return TestImages.all().stream();
  }

  static Path built(TestImages.Named recipe) throws IOException {
    Path image = BUILT.get(recipe.name());
    if (image == null) {
      image = recipe.build(Files.createDirectory(dir.resolve(recipe.name())));
      BUILT.put(recipe.name(), image);
    }
    return image;
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("images")
  void convertEqualsQemuImgConvert(TestImages.Named recipe) throws IOException {
    Path image = built(recipe);
    Path ours = image.resolveSibling("ours.raw");
    Path theirs = QemuTools.convertToRaw(image, image.resolveSibling("theirs.raw"));
    Cli.Result result = Cli.run("convert", "-q", image.toString(), ours.toString());
    assertEquals(0, result.exitCode(), result.toString());
    assertEquals(Files.size(theirs), Files.size(ours), "raw size");
    assertArrayEquals(Files.readAllBytes(theirs), Files.readAllBytes(ours), "raw contents");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("images")
  void mapEqualsQemuImgMap(TestImages.Named recipe) throws IOException {
    Path image = built(recipe);
    String theirs = QemuTools.run("qemu-img", "map", "--output=json", image.toString());
    Cli.Result result = Cli.run("map", "--output=json", image.toString());
    assertEquals(0, result.exitCode(), result.toString());
    assertEquals(theirs.strip(), result.out().strip());
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("images")
  void checkPrintsWhatQemuImgCheckPrints(TestImages.Named recipe) throws IOException {
    Path image = built(recipe);
    QemuTools.Output theirs = QemuTools.exec("qemu-img", "check", image.toString());
    Cli.Result ours = Cli.run("check", image.toString());
    assertEquals(theirs.exitCode(), ours.exitCode(), ours.toString());
    assertEquals(theirs.stdout(), ours.out());
  }

  /** The command doubles as the agreement test: every strategy prints the same text. */
  @ParameterizedTest(name = "{0}")
  @MethodSource("images")
  void metadataIsTheSameForEveryStrategy(TestImages.Named recipe) throws IOException {
    Path image = built(recipe);
    String first = null;
    for (String strategy : OverlapCheckers.names()) {
      Cli.Result result = Cli.run("metadata", "--overlap-check=all", "--overlap-strategy",
          strategy, image.toString());
      assertEquals(0, result.exitCode(), result.toString());
      if (first == null) {
        first = result.out();
      } else {
        assertEquals(first, result.out(), strategy);
      }
    }
  }

  static Stream<Arguments> metadataCases() {
    return images().flatMap(image -> OverlapCheckers.names().stream().flatMap(strategy ->
        Stream.of(OverlapCheckMode.CACHED, OverlapCheckMode.ALL)
            .map(mode -> Arguments.of(image, strategy, mode))));
  }

  @ParameterizedTest(name = "{0} {1} {2}")
  @MethodSource("metadataCases")
  void metadataListsExactlyTheImagesStructures(
      TestImages.Named recipe, String strategy, OverlapCheckMode mode) throws IOException {
    Path image = built(recipe);
    Cli.Result result = Cli.run("metadata", "--output=json", "--overlap-strategy", strategy,
        "--overlap-check", mode.optionValue(), image.toString());
    assertEquals(0, result.exitCode(), result.toString());
    assertEquals(ExpectedMetadata.json(image, mode.mask()), result.out());
  }
}

package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * With {@code overlap-check=all}, every pair of strategies, each opened on the same qemu-img-made
 * image, gives the same answer to every check of every cluster of the file: whole clusters with
 * each single type asked for, all types at once, and sub-cluster ranges.
 */
class StrategyAgreementTest {
  @TempDir static Path dir;
  private static final Map<String, Path> BUILT = new ConcurrentHashMap<>();

  @BeforeAll
  static void qemu() {
    QemuTools.assumeAvailable();
  }

  @Test
  void bothShippedStrategiesAreOnTheClassPath() {
    assertTrue(OverlapCheckers.names().containsAll(List.of("legacy", "windowed")),
        OverlapCheckers.names().toString());
  }

  static Stream<Arguments> pairs() {
    List<String> names = new ArrayList<>(OverlapCheckers.names());
    List<Arguments> pairs = new ArrayList<>();
    for (TestImages.Named image : images()) {
      for (int i = 0; i < names.size(); i++) {
        for (int j = i + 1; j < names.size(); j++) {
          pairs.add(Arguments.of(image, names.get(i), names.get(j)));
        }
      }
    }
    return pairs.stream();
  }

  /** The integration images plus one with many snapshots sharing and not sharing L2 tables. */
  static List<TestImages.Named> images() {
    List<TestImages.Named> images = new ArrayList<>(TestImages.all());
    images.add(new TestImages.Named("c1k-eight-snapshots", d -> {
      Path image = QemuTools.create(d.resolve("a.qcow2"), "cluster_size=1024", "8M");
      for (int i = 0; i < 8; i++) {
        QemuTools.io(image, "write -P " + (0x70 + i) + " " + (i * 700) + "k 3k");
        QemuTools.snapshot(image, "s" + i);
      }
      QemuTools.run("qemu-img", "snapshot", "-d", "s3", image.toString());
      QemuTools.io(image, "write -P 0x7f 0 2k");
      return image;
    }));
    return images;
  }

  private static Path built(TestImages.Named recipe) throws IOException {
    Path image = BUILT.get(recipe.name());
    if (image == null) {
      image = recipe.build(Files.createDirectory(dir.resolve(recipe.name())));
      BUILT.put(recipe.name(), image);
    }
    return image;
  }

  @ParameterizedTest(name = "{0}: {1} vs {2}")
  @MethodSource("pairs")
  void strategiesAgreeOnEveryClusterWithModeAll(TestImages.Named recipe, String left,
      String right) throws IOException {
    Path image = built(recipe);
    try (Qcow2Image a = open(image, left); Qcow2Image b = open(image, right)) {
      OverlapChecker x = a.overlapChecker().orElseThrow();
      OverlapChecker y = b.overlapChecker().orElseThrow();
      long clusterSize = a.clusterSize();
      long clusters = (Files.size(image) + clusterSize - 1) / clusterSize + 2;
      int disagreements = 0;
      StringBuilder first = new StringBuilder();
      int found = 0;
      for (long c = 0; c < clusters; c++) {
        long offset = c * clusterSize;
        int whole = x.check(offset, clusterSize, 0);
        found |= whole;
        if (whole != y.check(offset, clusterSize, 0)) {
          disagreements++;
          note(first, "cluster " + c, whole, y.check(offset, clusterSize, 0));
        }
        for (MetadataType type : MetadataType.values()) {
          int ignored = MetadataType.ALL_MASK & ~type.mask();
          int l = x.check(offset, clusterSize, ignored);
          int r = y.check(offset, clusterSize, ignored);
          if (l != r) {
            disagreements++;
            note(first, "cluster " + c + " asking for " + type, l, r);
          }
        }
        // A one-byte write in the middle of the cluster and a write spanning into the next.
        int l = x.check(offset + clusterSize / 2, 1, 0);
        int r = y.check(offset + clusterSize / 2, 1, 0);
        if (l != r) {
          disagreements++;
          note(first, "byte in cluster " + c, l, r);
        }
        l = x.check(offset + clusterSize - 512, 1024, 0);
        r = y.check(offset + clusterSize - 512, 1024, 0);
        if (l != r) {
          disagreements++;
          note(first, "span from cluster " + c, l, r);
        }
      }
      assertEquals(0, disagreements, left + " vs " + right + " on " + recipe + ":\n" + first);
      int expected = 0;
      for (int mask : ExpectedMetadata.masks(image, MetadataType.ALL_MASK)) {
        expected |= mask;
      }
      assertEquals(MetadataType.describe(expected), MetadataType.describe(found),
          "the checks must see every type the image has");
    }
  }

  private static Qcow2Image open(Path image, String strategy) throws IOException {
    return Qcow2Image.open(image, Map.of("overlap-strategy", strategy, "overlap-check", "all"),
        false);
  }

  private static void note(StringBuilder first, String where, int left, int right) {
    if (first.length() < 2000) {
      first.append(where).append(": ").append(MetadataType.describe(left)).append(" vs ")
          .append(MetadataType.describe(right)).append('\n');
    }
  }
}

package io.qcow2.format;

import io.qcow2.overlap.MetadataType;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The metadata an image holds, computed independently of the engine and the strategies: from
 * {@link ImageCheck}'s own walk of every table. Rendered as {@code qcow2 metadata --output=json}
 * prints it, so tests compare the command's output with it as text.
 */
public final class ExpectedMetadata {
  private ExpectedMetadata() {}

  /** The per-cluster type masks of the file, restricted to {@code enabledMask}. */
  public static int[] masks(Path image, int enabledMask) throws IOException {
    ImageCheck.Walk walk = ImageCheck.walk(image, 0, true);
    int[] masks = new int[walk.types.length];
    for (int i = 0; i < masks.length; i++) {
      masks[i] = walk.types[i] & enabledMask;
    }
    return masks;
  }

  /** The log2 of the image's cluster size. */
  public static int clusterBits(Path image) throws IOException {
    return ImageCheck.walk(image, 0, false).clusterBits;
  }

  /** {@code qcow2 metadata --output=json} as it should print for the image and mask. */
  public static String json(Path image, int enabledMask) throws IOException {
    int[] masks = masks(image, enabledMask);
    int bits = clusterBits(image);
    List<String> runs = new ArrayList<>();
    int start = 0;
    for (int i = 1; i <= masks.length; i++) {
      if (i == masks.length || masks[i] != masks[start]) {
        if (masks[start] != 0) {
          List<String> names = new ArrayList<>();
          for (MetadataType type : MetadataType.fromMask(masks[start])) {
            names.add("\"" + type.optionName() + "\"");
          }
          runs.add(String.format("{ \"start\": %d, \"clusters\": %d, \"types\": [%s]}",
              (long) start << bits, i - start, String.join(", ", names)));
        }
        start = i;
      }
    }
    return "[" + String.join(",\n", runs) + "]\n";
  }
}

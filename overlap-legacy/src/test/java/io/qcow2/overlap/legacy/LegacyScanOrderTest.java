package io.qcow2.overlap.legacy;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import io.qcow2.overlap.tck.SimulatedImage;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A check reads the view in the order of QEMU's qcow2_check_metadata_overlap, then this project's
 * bitmap tables and bitmap data clusters.
 */
class LegacyScanOrderTest {
  /** The view, logging the group of every call (consecutive repeats once). */
  private static MetadataView recording(MetadataView view, List<String> groups) {
    return (MetadataView) Proxy.newProxyInstance(MetadataView.class.getClassLoader(),
        new Class<?>[] {MetadataView.class}, (proxy, method, args) -> {
          String group = group(method.getName());
          if (groups.isEmpty() || !groups.get(groups.size() - 1).equals(group)) {
            groups.add(group);
          }
          try {
            return method.invoke(view, args);
          } catch (InvocationTargetException e) {
            throw e.getCause();
          }
        });
  }

  private static String group(String method) {
    switch (method) {
      case "activeL1Offset":
      case "activeL1Size":
        return "active L1 table";
      case "refcountTableOffset":
      case "refcountTableSize":
        return "refcount table";
      case "snapshotTableOffset":
      case "snapshotTableLength":
        return "snapshot table";
      case "snapshotCount":
        return "snapshots";
      case "snapshotL1Offset":
      case "snapshotL1Size":
        return "inactive L1 tables";
      case "activeL1Entry":
        return "active L2 tables";
      case "refcountTableEntry":
        return "refcount blocks";
      case "readSnapshotL1Table":
        return "inactive L2 tables";
      case "bitmapDirectoryOffset":
      case "bitmapDirectoryLength":
        return "bitmap directory";
      case "bitmapCount":
        return "bitmaps";
      case "bitmapTableOffset":
      case "bitmapTableSize":
        return "bitmap tables";
      case "bitmapTableEntry":
        return "bitmap data";
      default:
        return method;
    }
  }

  @Test
  void scansInQemusOrder() {
    SimulatedImage image = new SimulatedImage(9);
    image.allocateL2(0);
    image.addSnapshot();
    image.writeBitmapDirectory(100);
    image.storeBitmap(10, 2, -1);
    List<String> groups = new ArrayList<>();
    OverlapChecker checker = new LegacyOverlapChecker(new OverlapCheckerSetup(
        9, MetadataType.ALL_MASK, recording(image, groups), Map.of()));
    checker.check(image.hostClusters() << 9, 512, 0);
    List<String> expected = List.of("active L1 table", "refcount table", "snapshot table",
        "snapshots", "inactive L1 tables", "active L2 tables", "refcount blocks",
        "inactive L2 tables", "bitmap directory", "bitmaps", "bitmap tables", "bitmap data");
    assertEquals(expected, List.copyOf(new LinkedHashSet<>(groups)), "first reads, in order");
  }
}

package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapChecker;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Writes to images with internal snapshots made by {@code qemu-img snapshot -c} copy on write:
 * the active image changes, every snapshot keeps its data, and {@code qemu-img check} stays clean.
 */
class SnapshotInteropTest {
  @TempDir Path dir;

  static Stream<Arguments> cases() {
    List<Arguments> cases = new ArrayList<>();
    for (String strategy : TestOptions.strategies()) {
      cases.add(Arguments.of(512, "1.1", strategy));
      cases.add(Arguments.of(4096, "0.10", strategy));
      cases.add(Arguments.of(65536, "1.1", strategy));
    }
    return cases.stream();
  }

  @ParameterizedTest(name = "cluster_size={0} compat={1} strategy={2}")
  @MethodSource("cases")
  void writesCopyOnWriteAndSnapshotsKeepTheirData(int clusterSize, String compat, String strategy)
      throws Exception {
    QemuTools.assumeAvailable();
    Path img = dir.resolve("s.qcow2");
    QemuTools.runMerged("qemu-img", "create", "-f", "qcow2", "-o", "cluster_size=" + clusterSize + ",compat=" + compat,
        img.toString(), "4M");
    QemuTools.ioMerged(img, "write -P 0xa1 0 1M", "write -P 0xa2 3M 64k", "write -c -P 0xa3 2M 64k");
    byte[] snap1 = QemuTools.readRaw(img);
    QemuTools.runMerged("qemu-img", "snapshot", "-c", "one", img.toString());
    QemuTools.ioMerged(img, "write -P 0xb1 512k 4k");
    byte[] snap2 = QemuTools.readRaw(img);
    QemuTools.runMerged("qemu-img", "snapshot", "-c", "two", img.toString());

    byte[] model = snap2.clone();
    Random random = new Random(clusterSize);
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.openAll(strategy), true)) {
      assertEquals(2, image.info().snapshotCount());
      assertEquals("one", image.snapshots().get(0).name());
      // Mode all: snapshot L1 tables and their L2 tables are protected too.
      OverlapChecker checker = image.overlapChecker().orElseThrow();
      for (Snapshot s : image.snapshots()) {
        assertTrue((checker.check(s.l1Offset(), 1, 0) & MetadataType.INACTIVE_L1.mask()) != 0);
        for (long e : image.readTableFromFile(s.l1Offset(), s.l1Size())) {
          long l2 = e & TableEntry.L1_OFFSET_MASK;
          if (l2 != 0) {
            assertTrue((checker.check(l2, 1, 0) & MetadataType.INACTIVE_L2.mask()) != 0);
          }
        }
      }
      MetadataInvariants.verify(image);
      for (int i = 0; i < 200; i++) {
        int off = random.nextInt(model.length - 1);
        int len = 1 + random.nextInt(Math.min(model.length - off, 3 * clusterSize));
        if (i % 7 == 0) {
          image.writeZeroes(off, len);
          Arrays.fill(model, off, off + len, (byte) 0);
        } else if (i % 11 == 0 && !compat.equals("0.10")) {
          image.discard(off, len);
          long first = ((long) off + clusterSize - 1) / clusterSize * clusterSize;
          long end = (long) (off + len) / clusterSize * clusterSize;
          if (off + len == model.length) {
            end = model.length;
          }
          if (end > first) {
            Arrays.fill(model, (int) first, (int) end, (byte) 0);
          }
        } else {
          byte[] data = new byte[len];
          random.nextBytes(data);
          image.write(off, data, 0, len);
          System.arraycopy(data, 0, model, off, len);
        }
      }
      byte[] back = new byte[model.length];
      image.read(0, back, 0, back.length);
      assertArrayEquals(model, back);
      MetadataInvariants.verify(image);
    }
    QemuTools.checkClean(img);
    assertArrayEquals(model, QemuTools.readRaw(img));
    for (String[] snap : new String[][] {{"one", "1"}, {"two", "2"}}) {
      Path copy = dir.resolve(snap[0] + ".qcow2");
      Files.copy(img, copy);
      QemuTools.runMerged("qemu-img", "snapshot", "-a", snap[0], copy.toString());
      assertArrayEquals(snap[1].equals("1") ? snap1 : snap2, QemuTools.readRaw(copy), snap[0]);
      QemuTools.checkClean(copy);
    }
  }
}

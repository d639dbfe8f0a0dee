package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.MetadataType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * In the spirit of QEMU's iotest 060: an L1 or L2 entry edited to point at metadata makes the next
 * guest write through it fail the overlap check; the image is marked corrupt and becomes read-only,
 * and everything written before reads back unchanged. Runs once per strategy on the class path.
 */
class CorruptionTest {
  private static final int CLUSTER = 4096;

  @TempDir Path dir;

  enum Target { HEADER, ACTIVE_L1, ACTIVE_L2, REFCOUNT_TABLE, REFCOUNT_BLOCK, SNAPSHOT_TABLE }

  static Stream<Arguments> cases() {
    List<Arguments> cases = new ArrayList<>();
    for (String strategy : TestOptions.strategies()) {
      for (Target target : Target.values()) {
        cases.add(Arguments.of(strategy, target));
      }
    }
    return cases.stream();
  }

  @ParameterizedTest(name = "{0}: L2 entry -> {1}")
  @MethodSource("cases")
  void writeThroughL2EntryPointingAtMetadataIsRefused(String strategy, Target target) throws Exception {
    QemuTools.assumeAvailable();
    Path img = dir.resolve("c.qcow2");
    QemuTools.runMerged("qemu-img", "create", "-f", "qcow2", "-o", "cluster_size=" + CLUSTER, img.toString(), "4M");
    byte[] before = new byte[3 * CLUSTER];
    Arrays.fill(before, (byte) 0x3c);
    try (Qcow2Image image = Qcow2Image.create(img, 4 << 20, Map.of("cluster_size", "4096"), TestOptions.open(strategy))) {
      image.write(0, new byte[CLUSTER], 0, CLUSTER);
      image.write(1 << 20, before, 0, before.length);
    }
    if (target == Target.SNAPSHOT_TABLE) {
      QemuTools.runMerged("qemu-img", "snapshot", "-c", "snap1", img.toString());
    }
    long l1Offset = ImageFiles.readLong(img, 40);
    long l2Offset = ImageFiles.readLong(img, l1Offset) & TableEntry.L1_OFFSET_MASK;
    long reftable = ImageFiles.readLong(img, 48);
    long refblock = ImageFiles.readLong(img, reftable);
    long snapshots = ImageFiles.readLong(img, 64);
    long pointee;
    MetadataType expected;
    switch (target) {
      case HEADER: pointee = 0; expected = MetadataType.MAIN_HEADER; break;
      case ACTIVE_L1: pointee = l1Offset; expected = MetadataType.ACTIVE_L1; break;
      case ACTIVE_L2: pointee = l2Offset; expected = MetadataType.ACTIVE_L2; break;
      case REFCOUNT_TABLE: pointee = reftable; expected = MetadataType.REFCOUNT_TABLE; break;
      case REFCOUNT_BLOCK: pointee = refblock; expected = MetadataType.REFCOUNT_BLOCK; break;
      default: pointee = snapshots; expected = MetadataType.SNAPSHOT_TABLE; break;
    }
    long guestOffset = 512;
    long hostOffset = pointee + 512;
    if (target == Target.HEADER) {
      // An L2 entry cannot point at offset 0 (that reads as unallocated); as in iotest 060, clear
      // the header's refcount instead, so that allocation hands out cluster 0.
      ImageFiles.writeShort(img, refblock, 0);
      guestOffset = CLUSTER + 512;
      hostOffset = 0;
    } else {
      // Guest cluster 0's L2 entry now points at the metadata, with COPIED as if it owned it.
      ImageFiles.writeLong(img, l2Offset, pointee | TableEntry.COPIED);
    }
    long writeAt = guestOffset;

    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(strategy), true)) {
      MetadataOverlapException e = assertThrows(MetadataOverlapException.class,
          () -> image.write(writeAt, new byte[] {1, 2, 3, 4}, 0, 4));
      assertEquals(expected.mask(), Integer.lowestOneBit(e.typeMask()), e.getMessage());
      assertEquals(String.format(
          "Preventing invalid write on metadata (overlaps with %s) at offset 0x%x; image marked as corrupt",
          expected.description(), hostOffset), e.getMessage());
      assertTrue(image.info().corrupt());
      assertThrows(ReadOnlyImageException.class, () -> image.write(1 << 20, new byte[1], 0, 1));
      byte[] back = new byte[before.length];
      image.read(1 << 20, back, 0, back.length);
      assertArrayEquals(before, back);
    }
    String info = QemuTools.runMerged("qemu-img", "info", img.toString());
    assertTrue(info.contains("corrupt: true"), info);
    CorruptImageException reopen = assertThrows(CorruptImageException.class,
        () -> Qcow2Image.open(img, TestOptions.open(strategy), true));
    assertTrue(reopen.getMessage().contains("'qemu-img check -r all'")
        && reopen.getMessage().contains("'qcow2 check -r all'"), reopen.getMessage());
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(strategy), false)) {
      assertTrue(image.info().corrupt());
      byte[] back = new byte[before.length];
      image.read(1 << 20, back, 0, back.length);
      assertArrayEquals(before, back);
    }
  }

  @ParameterizedTest(name = "{0}: L1 entry -> L1 table")
  @MethodSource("io.qcow2.format.TestOptions#strategies")
  void writeThroughL1EntryPointingAtL1IsRefused(String strategy) throws Exception {
    QemuTools.assumeAvailable();
    Path img = dir.resolve("l1.qcow2");
    QemuTools.runMerged("qemu-img", "create", "-f", "qcow2", "-o", "cluster_size=" + CLUSTER, img.toString(), "4M");
    QemuTools.ioMerged(img, "write -P 0x11 0 4k", "write -P 0x22 2M 4k");
    long l1Offset = ImageFiles.readLong(img, 40);
    ImageFiles.writeLong(img, l1Offset, l1Offset | TableEntry.COPIED);
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(strategy), true)) {
      // Guest cluster 3's "L2 entry" is the L1 table's entry 3, beyond l1_size: zero, so the write
      // allocates and then must update the "L2 table", which is the L1 table.
      MetadataOverlapException e = assertThrows(MetadataOverlapException.class,
          () -> image.write(3 * CLUSTER, new byte[CLUSTER], 0, CLUSTER));
      assertTrue((e.typeMask() & MetadataType.ACTIVE_L1.mask()) != 0, e.getMessage());
      byte[] back = new byte[CLUSTER];
      image.read(2 << 20, back, 0, CLUSTER);
      assertEquals(0x22, back[100]);
    }
    assertTrue(QemuTools.runMerged("qemu-img", "info", img.toString()).contains("corrupt: true"));
  }

  static Stream<Arguments> clearedRefcounts() {
    List<Arguments> cases = new ArrayList<>();
    for (String strategy : TestOptions.strategies()) {
      for (MetadataType type : new MetadataType[] {MetadataType.ACTIVE_L1, MetadataType.ACTIVE_L2,
          MetadataType.REFCOUNT_TABLE, MetadataType.REFCOUNT_BLOCK}) {
        cases.add(Arguments.of(strategy, type));
      }
    }
    return cases.stream();
  }

  /** As iotest 060: a metadata cluster's refcount is cleared, so allocation hands it out. */
  @ParameterizedTest(name = "{0}: refcount of {1} cleared")
  @MethodSource("clearedRefcounts")
  void allocationOverMetadataWithClearedRefcountIsRefused(String strategy, MetadataType type) throws Exception {
    QemuTools.assumeAvailable();
    Path img = dir.resolve("rc.qcow2");
    try (Qcow2Image image = Qcow2Image.create(img, 4 << 20, Map.of("cluster_size", "4096"), TestOptions.open(strategy))) {
      image.write(0, new byte[CLUSTER], 0, CLUSTER);
    }
    long l1Offset = ImageFiles.readLong(img, 40);
    long reftable = ImageFiles.readLong(img, 48);
    long refblock = ImageFiles.readLong(img, reftable);
    long target;
    switch (type) {
      case ACTIVE_L1: target = l1Offset; break;
      case ACTIVE_L2: target = ImageFiles.readLong(img, l1Offset) & TableEntry.L1_OFFSET_MASK; break;
      case REFCOUNT_TABLE: target = reftable; break;
      default: target = refblock; break;
    }
    ImageFiles.writeShort(img, refblock + 2 * (target / CLUSTER), 0);
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(strategy), true)) {
      MetadataOverlapException e = assertThrows(MetadataOverlapException.class,
          () -> image.write(5 * CLUSTER, new byte[] {9}, 0, 1));
      assertEquals(type.mask(), Integer.lowestOneBit(e.typeMask()), e.getMessage());
      assertEquals(target, e.hostOffset());
      byte[] back = new byte[CLUSTER];
      image.read(0, back, 0, CLUSTER);
      assertArrayEquals(new byte[CLUSTER], back);
    }
    assertTrue(QemuTools.runMerged("qemu-img", "info", img.toString()).contains("corrupt: true"));
  }


  @Test
  void checksOffAllowsTheWriteAndModeNoneHasNoChecker() throws Exception {
    QemuTools.assumeAvailable();
    Path img = dir.resolve("none.qcow2");
    Qcow2Image.create(img, 1 << 20, Map.of("cluster_size", "4096"), TestOptions.open()).close();
    Map<String, String> none = TestOptions.open();
    none.put("overlap-check", "none");
    try (Qcow2Image image = Qcow2Image.open(img, none, true)) {
      assertFalse(image.overlapChecker().isPresent());
      assertEquals(0, image.overlapMask());
    }
    Map<String, String> constant = TestOptions.open();
    constant.put("overlap-check", "constant");
    constant.put("overlap-check.active-l2", "on");
    try (Qcow2Image image = Qcow2Image.open(img, constant, true)) {
      assertEquals(MetadataType.maskOf(MetadataType.MAIN_HEADER, MetadataType.ACTIVE_L1,
          MetadataType.REFCOUNT_TABLE, MetadataType.SNAPSHOT_TABLE, MetadataType.BITMAP_DIRECTORY,
          MetadataType.ACTIVE_L2), image.overlapMask());
    }
  }

  @Test
  void compatV2IsRefusedButNotMarked() throws Exception {
    QemuTools.assumeAvailable();
    Path img = dir.resolve("v2.qcow2");
    try (Qcow2Image image = Qcow2Image.create(img, 1 << 20,
        Map.of("cluster_size", "4096", "compat", "0.10"), TestOptions.open())) {
      image.write(0, new byte[CLUSTER], 0, CLUSTER);
    }
    long l1Offset = ImageFiles.readLong(img, 40);
    long l2Offset = ImageFiles.readLong(img, l1Offset) & TableEntry.L1_OFFSET_MASK;
    ImageFiles.writeLong(img, l2Offset, l1Offset | TableEntry.COPIED);
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), true)) {
      MetadataOverlapException e = assertThrows(MetadataOverlapException.class,
          () -> image.write(0, new byte[1], 0, 1));
      assertTrue(e.getMessage().contains("active L1 table"), e.getMessage());
      assertFalse(image.info().corrupt());
      assertThrows(ReadOnlyImageException.class, () -> image.write(0, new byte[1], 0, 1));
    }
  }
}

package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The layout codec's raw decode steps, which the engine's validating parsers and check share:
 * what they decode, and that check can open from them an image the engine refuses, as {@code
 * qemu-img check} does.
 */
class LayoutCodecTest {
  @TempDir Path dir;

  private Path image() throws Exception {
    Path img = dir.resolve("codec.qcow2");
    try (Qcow2Image image = Qcow2Image.create(img, 8 << 20,
        Map.of("cluster_size", "4096"), TestOptions.open())) {
      image.write(0, new byte[10000], 0, 10000);
    }
    return img;
  }

  @Test
  void refcountTableBeyondTheFileIsRefusedByTheEngineAndCheckedAsQemuImgChecksIt()
      throws Exception {
    Path img = image();
    long beyond = 1L << 30;
    ImageFiles.writeLong(img, 48, beyond);

    CorruptImageException refused = assertThrows(CorruptImageException.class,
        () -> Qcow2Image.open(img, TestOptions.open(), false));
    assertTrue(refused.getMessage().contains("refcount_table_offset"), refused.getMessage());

    byte[] cluster0 = new byte[4096];
    try (FileChannel channel = FileChannel.open(img, StandardOpenOption.READ)) {
      channel.read(ByteBuffer.wrap(cluster0), 0);
      assertEquals(beyond, Header.Fields.decode(cluster0).refcountTableOffset());
      CheckedHeader header = CheckedHeader.read(new CheckFile(channel));
      assertEquals(beyond, header.refcountTableOffset);
      assertEquals(4096 / 8, header.refcountTableSize);
    }

    // Every stored refcount reads 0: each referenced cluster is a corruption, none a leak.
    CheckResult ours = ImageCheck.run(img, 0);
    assertEquals(2, ours.exitCode(), ours.toString());
    assertTrue(ours.corruptions() > 0, ours.toString());
    assertEquals(0, ours.leaks(), ours.toString());
    QemuTools.assumeAvailable();
    QemuTools.QemuCheck theirs = QemuTools.check(img);
    assertEquals(theirs.exitCode(), ours.exitCode(), theirs.stderr());
    assertEquals(theirs.get("corruptions"), ours.corruptions(), theirs.stderr());
  }

  @Test
  void version2HeaderDecodesWithVersion2Defaults() {
    byte[] raw = new byte[512];
    ByteBuffer b = ByteBuffer.wrap(raw);
    b.putInt(0, Header.MAGIC).putInt(4, 2).putInt(20, 9);
    // Bytes where version 3 keeps its fields: a version 2 header has none there.
    for (int i = 72; i < 112; i++) {
      raw[i] = (byte) 0xff;
    }
    Header.Fields f = Header.Fields.decode(raw);
    assertEquals(2, f.version());
    assertEquals(0, f.incompatible());
    assertEquals(0, f.compatible());
    assertEquals(0, f.autoclear());
    assertEquals(4, f.refcountOrder());
    assertEquals(Header.V2_LENGTH, f.headerLength());
    assertEquals(0, f.compressionType());

    b.putInt(4, 3).putInt(100, 0xfffffff8);
    f = Header.Fields.decode(raw);
    assertEquals(-1L, f.incompatible());
    assertEquals(0xfffffff8L, f.headerLength(), "unsigned, as stored");
    assertEquals(0xff, f.compressionType());
    assertThrows(IllegalArgumentException.class, () -> Header.Fields.decode(new byte[100]));
  }

  @Test
  void extensionWalkStopsAfterTheEndMarkerOrAnExtensionPastTheEnd() {
    byte[] raw = new byte[512];
    ByteBuffer b = ByteBuffer.wrap(raw);
    b.putInt(104, 0x1234).putInt(108, 3); // 3 bytes of data, padded to 8
    b.putInt(120, 0).putInt(124, 0);
    List<HeaderExtension.Location> found = HeaderExtension.locate(raw, 104, 512);
    assertEquals(List.of(new HeaderExtension.Location(0x1234, 112, 3),
        new HeaderExtension.Location(0, 128, 0)), found);
    assertFalse(found.get(0).exceeds(512));

    b.putInt(108, 1000);
    found = HeaderExtension.locate(raw, 104, 512);
    assertEquals(1, found.size());
    assertTrue(found.get(0).exceeds(512));

    // Too few bytes left for a type and a length: QEMU's "too large", the engine ignores them.
    found = HeaderExtension.locate(raw, 508, 512);
    assertEquals(1, found.size());
    assertEquals(516, found.get(0).dataOffset());
    assertTrue(found.get(0).exceeds(512));

    assertEquals(List.of(), HeaderExtension.locate(raw, 512, 512));
  }

  @Test
  void snapshotHeadDecodesWhatTheSnapshotTableEncodes() throws Exception {
    SnapshotTable.Entry entry = new SnapshotTable.Entry(0x30000, 17, "1", "before upgrade",
        1_700_000_000L, 123_456_789L, 42L, 0x1_0000_0001L, 8 << 20, -1, new byte[0]);
    byte[] table = SnapshotTable.encode(List.of(entry));
    Snapshot.Head head = Snapshot.Head.decode(table);
    assertEquals(0x30000, head.l1Offset());
    assertEquals(17, head.l1Size());
    assertEquals(1, head.idSize());
    assertEquals("before upgrade".length(), head.nameSize());
    assertEquals(1_700_000_000L, head.dateSeconds());
    assertEquals(123_456_789L, head.dateNanos());
    assertEquals(42L, head.vmClockNanos());
    assertEquals(0, head.vmStateSize(), "a state too large for 32 bits is stored as none");
    assertEquals(SnapshotTable.EXTRA_DATA_SIZE, head.extraSize());
    assertEquals(table.length - Snapshot.HEADER_SIZE, head.variableSize());

    byte[] hostile = table.clone();
    ByteBuffer.wrap(hostile).putInt(8, -1).putInt(36, -2);
    Snapshot.Head unsigned = Snapshot.Head.decode(hostile);
    assertEquals(0xffffffffL, unsigned.l1Size());
    assertEquals(0xfffffffeL, unsigned.extraSize());
  }
}

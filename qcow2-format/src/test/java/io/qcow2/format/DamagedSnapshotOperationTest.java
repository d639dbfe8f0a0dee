package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Snapshot operations on damaged images refuse, before anything changes, where QEMU's in-place
 * rewrites meet the damage: we write new tables instead of rewriting, so the refusal has to be
 * judged up front. QEMU's verdict on an identical copy is the reference; the image keeps every
 * byte but the corrupt bit. Runs once per strategy.
 */
class DamagedSnapshotOperationTest {
  private static final int CLUSTER = 4096;
  private static final long L2_SPAN = CLUSTER / 8L * CLUSTER;

  @TempDir Path dir;


  /**
   * L1 entry 1 points, with COPIED, at the active L1 table. Creating a snapshot clears the COPIED
   * flags of the tables it will share, and QEMU's rewrite of this "L2 table" overlaps the active
   * L1 table.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("io.qcow2.format.TestOptions#strategies")
  void createRefusesATableThatIsTheActiveL1(String strategy) throws Exception {
    QemuTools.assumeAvailable();
    Path img = image("l1.qcow2");
    long l1 = ImageFiles.readLong(img, 40);
    ImageFiles.writeLong(img, l1 + 8, l1 | TableEntry.COPIED);

    String qemu = qemuImgSnapshot(img, "-c", "s1");
    assertTrue(qemu.contains("Preventing invalid write on metadata (overlaps with active L1 table)"),
        qemu);
    assertRefusedUnchanged(img, strategy, image -> image.createSnapshot("s1"),
        MetadataOverlapException.class);
  }

  /**
   * L1 entries 0 and 1 point at one L2 table, counted once. Applying a snapshot takes the active
   * tables' references away, twice from that table: its refcount would drop below 0 and free it
   * while in use. QEMU refuses, with an overlap once the freed cluster is reused.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("io.qcow2.format.TestOptions#strategies")
  void applyRefusesATableReachedTwice(String strategy) throws Exception {
    QemuTools.assumeAvailable();
    Path img = image("twice.qcow2");
    QemuTools.snapshot(img, "s1");
    QemuTools.ioMerged(img, "write -P 0x22 0 4k");   // the active state gets its own table
    long l1 = ImageFiles.readLong(img, 40);
    ImageFiles.writeLong(img, l1 + 8, ImageFiles.readLong(img, l1) & TableEntry.L1_OFFSET_MASK);

    String qemu = qemuImgSnapshot(img, "-a", "s1");
    assertTrue(qemu.contains("Could not apply snapshot"), qemu);
    assertRefusedUnchanged(img, strategy, image -> image.applySnapshot("s1"),
        MetadataCorruptionException.class);
  }

  /** A 4 MiB image with 4 KiB clusters, its first 64 KiB written. */
  private Path image(String name) throws Exception {
    Path img = dir.resolve(name);
    QemuTools.create(img, "cluster_size=" + CLUSTER, "4M");
    QemuTools.ioMerged(img, "write -P 0x11 0 64k", "write -P 0x33 " + L2_SPAN + " 4k");
    return img;
  }

  private String qemuImgSnapshot(Path img, String op, String name) throws Exception {
    Path copy = QemuTools.copy(img, dir.resolve("qemu-" + img.getFileName()));
    return QemuTools.execMerged("qemu-img", "snapshot", op, name, copy.toString()).stdout();
  }

  private interface Operation {
    void run(Qcow2Image image) throws Exception;
  }

  private static void assertRefusedUnchanged(Path img, String strategy, Operation op,
      Class<? extends Qcow2Exception> refusal) throws Exception {
    byte[] before = Files.readAllBytes(img);
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(strategy), true)) {
      assertThrows(refusal, () -> op.run(image));
      assertTrue(image.info().corrupt());
    }
    byte[] after = Files.readAllBytes(img);
    // Only the header's incompatible-features field (the corrupt bit) may differ.
    Arrays.fill(before, 72, 80, (byte) 0);
    Arrays.fill(after, 72, 80, (byte) 0);
    assertArrayEquals(before, Arrays.copyOf(after, before.length), "nothing but the corrupt bit");
  }
}

package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Hostile header and snapshot fields are refused with a message naming the field, its value and
 * the limit, in bounded time and memory.
 */
class ValidationTest {
  private static final int CLUSTER = 4096;

  @TempDir Path dir;

  /** A field edit and the words its error must contain. */
  enum Hostile {
    L1_SIZE_HUGE("l1_size", "32 MiB") {
      @Override void apply(Path p) throws Exception { ImageFiles.writeInt(p, 36, 0x7fffffff); }
    },
    L1_SIZE_TOO_SMALL("l1_size", "too small") {
      @Override void apply(Path p) throws Exception { ImageFiles.writeInt(p, 36, 0); ImageFiles.writeLong(p, 24, 1L << 40); }
    },
    L1_OFFSET_BEYOND_EOF("l1_table_offset", "end of the file") {
      @Override void apply(Path p) throws Exception { ImageFiles.writeLong(p, 40, 1L << 40); }
    },
    L1_OFFSET_UNALIGNED("l1_table_offset", "multiple of the cluster size") {
      @Override void apply(Path p) throws Exception { ImageFiles.writeLong(p, 40, ImageFiles.readLong(p, 40) + 8); }
    },
    REFTABLE_CLUSTERS_HUGE("refcount_table_clusters", "8 MiB") {
      @Override void apply(Path p) throws Exception { ImageFiles.writeInt(p, 56, 0x7fffffff); }
    },
    REFTABLE_OFFSET_BEYOND_EOF("refcount_table_offset", "end of the file") {
      @Override void apply(Path p) throws Exception { ImageFiles.writeLong(p, 48, 1L << 45); }
    },
    HEADER_LENGTH_SHORT("header_length", "[104,") {
      @Override void apply(Path p) throws Exception { ImageFiles.writeInt(p, 100, 50); }
    },
    HEADER_LENGTH_HUGE("header_length", "cluster size") {
      @Override void apply(Path p) throws Exception { ImageFiles.writeInt(p, 100, 0x7ffffff8); }
    },
    NB_SNAPSHOTS_HUGE("nb_snapshots", "65536") {
      @Override void apply(Path p) throws Exception { ImageFiles.writeInt(p, 60, 0x7fffffff); ImageFiles.writeLong(p, 64, CLUSTER); }
    },
    SNAPSHOTS_BEYOND_EOF("snapshots_offset", "end of the file") {
      @Override void apply(Path p) throws Exception { ImageFiles.writeInt(p, 60, 1000); ImageFiles.writeLong(p, 64, 1L << 40); }
    },
    EXTENSION_TOO_LONG("header extension", "exceeds") {
      @Override void apply(Path p) throws Exception {
        int headerLength = ImageFiles.readInt(p, 100);
        ImageFiles.writeInt(p, headerLength, 0x12345678);
        ImageFiles.writeInt(p, headerLength + 4, 0x10000000);
      }
    },
    CLUSTER_BITS("cluster_bits", "[9, 21]") {
      @Override void apply(Path p) throws Exception { ImageFiles.writeInt(p, 20, 31); }
    },
    REFCOUNT_ORDER("refcount_order", "[0, 6]") {
      @Override void apply(Path p) throws Exception { ImageFiles.writeInt(p, 96, 7); }
    },
    MAGIC("magic", "not a qcow2 image") {
      @Override void apply(Path p) throws Exception { ImageFiles.writeInt(p, 0, 0x12345678); }
    };

    final String field;
    final String limit;

    Hostile(String field, String limit) {
      this.field = field;
      this.limit = limit;
    }

    abstract void apply(Path p) throws Exception;
  }

  private Path image() throws Exception {
    Path img = dir.resolve("v.qcow2");
    try (Qcow2Image image = Qcow2Image.create(img, 8 << 20, Map.of("cluster_size", "4096"), TestOptions.open())) {
      image.write(0, new byte[10000], 0, 10000);
    }
    return img;
  }

  @ParameterizedTest
  @EnumSource(Hostile.class)
  void hostileHeaderFieldIsRefused(Hostile hostile) throws Exception {
    Path img = image();
    hostile.apply(img);
    CorruptImageException e = assertTimeoutPreemptively(Duration.ofSeconds(5),
        () -> assertThrows(CorruptImageException.class, () -> Qcow2Image.open(img, TestOptions.open(), false)));
    assertTrue(e.getMessage().contains(hostile.field), e.getMessage());
    assertTrue(e.getMessage().contains(hostile.limit), e.getMessage());
    assertTrue(e.getMessage().contains("file offset"), e.getMessage());
  }

  @Test
  void hostileSnapshotEntriesAreRefused() throws Exception {
    QemuTools.assumeAvailable();
    Path img = image();
    QemuTools.runMerged("qemu-img", "snapshot", "-c", "s1", img.toString());
    long table = ImageFiles.readLong(img, 64);
    Path copy = dir.resolve("copy.qcow2");

    Files.copy(img, copy);
    ImageFiles.writeInt(copy, table + 8, 0x7fffffff);
    CorruptImageException e = assertThrows(CorruptImageException.class, () -> Qcow2Image.open(copy, TestOptions.open(), false));
    assertTrue(e.getMessage().contains("l1_size") && e.getMessage().contains("32 MiB"), e.getMessage());

    Files.copy(img, copy, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    ImageFiles.writeInt(copy, table + 36, 100000);
    e = assertThrows(CorruptImageException.class, () -> Qcow2Image.open(copy, TestOptions.open(), false));
    assertTrue(e.getMessage().contains("extra_data_size") && e.getMessage().contains("1024"), e.getMessage());

    Files.copy(img, copy, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    ImageFiles.writeShort(copy, table + 14, 60000);
    e = assertThrows(CorruptImageException.class, () -> Qcow2Image.open(copy, TestOptions.open(), false));
    assertTrue(e.getMessage().contains("name_size") && e.getMessage().contains("1023"), e.getMessage());

    Files.copy(img, copy, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    ImageFiles.writeLong(copy, table, 12345);
    e = assertThrows(CorruptImageException.class, () -> Qcow2Image.open(copy, TestOptions.open(), false));
    assertTrue(e.getMessage().contains("l1_table_offset"), e.getMessage());
  }

  @Test
  void unsupportedFeaturesAreNamedAsQemuDoes() throws Exception {
    Path img = image();
    ImageFiles.writeLong(img, 72, 1L << 2);
    UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
        () -> Qcow2Image.open(img, TestOptions.open(), false));
    assertEquals("Unsupported qcow2 feature(s): external data file", e.getMessage());

    ImageFiles.writeLong(img, 72, 1L << 4);
    e = assertThrows(UnsupportedFeatureException.class, () -> Qcow2Image.open(img, TestOptions.open(), false));
    assertEquals("Unsupported qcow2 feature(s): extended L2 entries", e.getMessage());

    ImageFiles.writeLong(img, 72, 1L << 40);
    e = assertThrows(UnsupportedFeatureException.class, () -> Qcow2Image.open(img, TestOptions.open(), false));
    assertEquals("Unsupported qcow2 feature(s): Unknown incompatible feature: 10000000000", e.getMessage());

    // The feature name table's name wins for a bit it names.
    int headerLength = ImageFiles.readInt(img, 100);
    assertEquals(HeaderExtension.FEATURE_NAME_TABLE, ImageFiles.readInt(img, headerLength));
    ImageFiles.writeByte(img, headerLength + 8 + 1, 40);
    e = assertThrows(UnsupportedFeatureException.class, () -> Qcow2Image.open(img, TestOptions.open(), false));
    assertEquals("Unsupported qcow2 feature(s): dirty bit", e.getMessage());

    // Compression types as QEMU's validate_compression_type: zstd opens, an unknown type is
    // refused by number, and the incompatible bit must be set exactly for a type other than zlib.
    ImageFiles.writeLong(img, 72, 1L << 3);
    ImageFiles.writeByte(img, 104, 1);
    try (Qcow2Image zstd = Qcow2Image.open(img, TestOptions.open(), false)) {
      assertEquals(1L << 3, zstd.info().incompatibleFeatures());
    }
    ImageFiles.writeByte(img, 104, 2);
    e = assertThrows(UnsupportedFeatureException.class, () -> Qcow2Image.open(img, TestOptions.open(), false));
    assertEquals("Unsupported qcow2 feature(s): compression type 2", e.getMessage());
    ImageFiles.writeByte(img, 104, 0);
    CorruptImageException bit = assertThrows(CorruptImageException.class,
        () -> Qcow2Image.open(img, TestOptions.open(), false));
    assertEquals("Compression type incompatible feature bit must not be set", bit.getMessage());
    ImageFiles.writeLong(img, 72, 0);
    ImageFiles.writeByte(img, 104, 1);
    bit = assertThrows(CorruptImageException.class, () -> Qcow2Image.open(img, TestOptions.open(), false));
    assertEquals("Compression type incompatible feature bit must be set", bit.getMessage());
  }

  /** As QEMU's qcow2_do_open: read-only shows the dirty bit; read/write repairs and clears it. */
  @Test
  void dirtyImageIsRepairedWhenOpenedForWriting() throws Exception {
    Path img = image();
    ImageFiles.writeLong(img, 72, 1L);
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), false)) {
      assertTrue(image.info().dirty());
      assertThrows(ReadOnlyImageException.class, () -> image.write(0, new byte[1], 0, 1));
    }
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), true)) {
      assertFalse(image.info().dirty());
      image.write(0, new byte[1], 0, 1);
    }
  }

  @Test
  void duplicateRefcountBlocksAreRefusedForWriting() throws Exception {
    Path img = image();
    long reftable = ImageFiles.readLong(img, 48);
    ImageFiles.writeLong(img, reftable + 8, ImageFiles.readLong(img, reftable));
    CorruptImageException e = assertThrows(CorruptImageException.class, () -> Qcow2Image.open(img, TestOptions.open(), true));
    assertTrue(e.getMessage().contains("refcount block") && e.getMessage().contains("qemu-img check -r all"), e.getMessage());
    Qcow2Image.open(img, TestOptions.open(), false).close();
  }

  @Test
  void openingAMissingFileDoesNotCreateIt() {
    Path missing = dir.resolve("missing.qcow2");
    assertThrows(java.nio.file.NoSuchFileException.class, () -> Qcow2Image.open(missing, TestOptions.open(), true));
    assertTrue(Files.notExists(missing));
  }

  @Test
  void unknownAutoclearBitsAreClearedOnWritableOpen() throws Exception {
    Path img = image();
    ImageFiles.writeLong(img, 88, 1L << 5);
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), false)) {
      assertEquals(1L << 5, image.info().autoclearFeatures());
    }
    assertEquals(1L << 5, ImageFiles.readLong(img, 88));
    Qcow2Image.open(img, TestOptions.open(), true).close();
    assertEquals(0, ImageFiles.readLong(img, 88));
  }

  @Test
  void badOpenOptionsListWhatIsAllowed() throws Exception {
    Path img = image();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Qcow2Image.open(img, Map.of("overlap-strategy", "no-such"), false));
    assertTrue(e.getMessage().contains("no-such") && e.getMessage().contains("available"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> Qcow2Image.open(img, Map.of("overlap-check", "most"), false));
    assertTrue(e.getMessage().contains("none, constant, cached, all"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> Qcow2Image.open(img, Map.of("lazy-refcounts", "on"), false));
    assertTrue(e.getMessage().contains("overlap-strategy"), e.getMessage());
  }

  @Test
  void unknownExtensionsArePreservedAndReported() throws Exception {
    Path img = image();
    int headerLength = ImageFiles.readInt(img, 100);
    // Replace the feature name table by an unknown 8-byte extension followed by the end marker.
    ImageFiles.writeInt(img, headerLength, 0x0badcafe);
    ImageFiles.writeInt(img, headerLength + 4, 8);
    ImageFiles.writeLong(img, headerLength + 8, 0x0102030405060708L);
    ImageFiles.writeLong(img, headerLength + 16, 0);
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), true)) {
      image.write(0, new byte[] {1}, 0, 1);
      assertEquals(0x0badcafe, image.info().extensions().get(0).type());
      assertEquals("unknown", image.info().extensions().get(0).name());
    }
    assertEquals(0x0102030405060708L, ImageFiles.readLong(img, headerLength + 8));
  }

  /** Issue 15: an entry with its top bit set is printed in unsigned hex, never as a negative decimal. */
  @Test
  void entriesWithTheTopBitSetArePrintedInUnsignedHex() throws Exception {
    assertEquals("Invalid L1 entry 0 0x8000000000042a00: unaligned (read at file offset 0x30000)",
        CorruptImageException.field("L1 entry 0", 0x8000000000042a00L, "unaligned", 0x30000).getMessage());
    assertEquals("Invalid l1_size 16 (0x10): too big (read at file offset 0x24)",
        CorruptImageException.field("l1_size", 16, "too big", 0x24).getMessage());
    QemuTools.assumeAvailable();
    Path img = QemuTools.create(dir.resolve("top-bit.qcow2"), "", "64M");
    QemuTools.io(img, "write -P 0x11 0 64k");
    long reftable = ImageFiles.readLong(img, 48);
    // Refcount table entries keep bits 9-63: this one is aligned but beyond 2^56.
    ImageFiles.writeLong(img, reftable, 0x8000000000020000L);
    try (Qcow2Image image = Qcow2Image.open(img, TestOptions.open(), true)) {
      CorruptImageException e = assertThrows(CorruptImageException.class,
          () -> image.write(1 << 20, new byte[512], 0, 512));
      assertTrue(e.getMessage().contains("0x8000000000020000"), e.getMessage());
      assertTrue(!e.getMessage().matches("(?s).*-\\d{4,}.*"), e.getMessage());
    }
  }
}

package io.qcow2.format;

import com.google.common.collect.ImmutableList;
import com.google.common.math.LongMath;
import io.qcow2.overlap.MetadataType;
import java.io.IOException;
import java.math.RoundingMode;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The persistent bitmaps as the check sees them: the directory loaded and each bitmap that is not
 * in use validated as QEMU does when it opens the image (any failure makes the image unopenable:
 * {@code bitmap_list_load}, {@code check_dir_entry}, {@code load_bitmap}), then their clusters
 * counted ({@code qcow2_check_bitmaps_refcounts}).
 */
final class BitmapCheck {
  /** Largest bitmap table in bytes ({@code BME_MAX_TABLE_SIZE} entries of 8 bytes). */
  static final long MAX_TABLE_BYTES = 0x8000000L * 8;
  /** {@code BME_MAX_PHYS_SIZE}: 512 MiB of bitmap data. */
  static final long MAX_PHYSICAL_BYTES = 0x2000_0000L;
  static final long TABLE_ENTRY_OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;
  static final long TABLE_ENTRY_RESERVED_MASK = 0xff00_0000_0000_01feL;
  /** {@code BME_MAX_NAME_SIZE}. */
  static final int MAX_NAME_BYTES = 1023;
  private static final int DIRECTORY_ENTRY_SIZE = 24;

  /** A directory entry, validated. */
  private record Bitmap(String name, long tableOffset, long tableSize) {}

  private final CheckedHeader header;
  private final List<Bitmap> bitmaps;

  private BitmapCheck(CheckedHeader header, List<Bitmap> bitmaps) {
    this.header = header;
    this.bitmaps = bitmaps;
  }

  /**
   * Loads the directory the header points to (none without the bitmaps extension).
   *
   * @throws CorruptImageException with QEMU's message if QEMU would refuse to open the image
   */
  static BitmapCheck load(CheckFile file, CheckedHeader header) throws IOException {
    if (header.bitmapCount == 0) {
      return new BitmapCheck(header, List.of());
    }
    long directorySize = header.bitmapDirectorySize;
    long directoryOffset = header.bitmapDirectoryOffset;
    long clusterSize = header.clusterSize;
    if (directorySize == 0) {
      throw new CorruptImageException("Requested bitmap directory size is zero");
    }
    ImmutableList.Builder<Bitmap> found = ImmutableList.builder();
    long position = 0;
    int count = 0;
    while (position < directorySize) {
      if (position + DIRECTORY_ENTRY_SIZE > directorySize) {
        throw new CorruptImageException("Broken bitmap directory");
      }
      if (++count > header.bitmapCount) {
        throw new CorruptImageException("More bitmaps found than specified in header extension");
      }
      ByteBuffer e = file.read(directoryOffset + position, DIRECTORY_ENTRY_SIZE);
      long tableOffset = e.getLong(0);
      long tableSize = Integer.toUnsignedLong(e.getInt(8));
      int flags = e.getInt(12);
      int type = e.get(16) & 0xff;
      int granularityBits = e.get(17) & 0xff;
      int nameSize = Short.toUnsignedInt(e.getShort(18));
      long extraSize = Integer.toUnsignedLong(e.getInt(20));
      long next = position + ((DIRECTORY_ENTRY_SIZE + extraSize + nameSize + 7) & ~7L);
      if (next > directorySize) {
        throw new CorruptImageException("Broken bitmap directory");
      }
      if (extraSize != 0) {
        throw new CorruptImageException("Bitmap extra data is not supported");
      }
      String name = new String(
          file.read(directoryOffset + position + DIRECTORY_ENTRY_SIZE, nameSize).array(),
          StandardCharsets.UTF_8);
      long physicalBytes = tableSize * clusterSize;
      boolean inUse = (flags & 1) != 0;
      if (tableSize == 0 || tableOffset == 0 || (tableOffset & (clusterSize - 1)) != 0
          || tableSize > MAX_TABLE_BYTES / 8 || granularityBits > 31 || granularityBits < 9
          || (flags & ~3) != 0 || nameSize > MAX_NAME_BYTES || type != 1
          || physicalBytes > MAX_PHYSICAL_BYTES
          // QEMU shifts an unsigned 64-bit value: 512 MiB at granularity 2^31 is 2^63, not < 0.
          || (!inUse && header.diskLength()
              > LongMath.saturatedMultiply(physicalBytes * 8, 1L << granularityBits))) {
        throw new CorruptImageException("Bitmap '" + name + "' doesn't satisfy the constraints");
      }
      if (!inUse) {
        // load_bitmap(): the table must have exactly the clusters the bitmap needs.
        long bits = LongMath.divide(header.diskLength(), 1L << granularityBits, RoundingMode.CEILING);
        long needed = LongMath.divide(
            LongMath.divide(bits, 8, RoundingMode.CEILING), clusterSize, RoundingMode.CEILING);
        boolean valid = needed == tableSize;
        for (long entry : valid ? file.readTable(tableOffset, (int) tableSize) : new long[0]) {
          valid &= validTableEntry(entry, clusterSize);
        }
        if (!valid) {
          throw new CorruptImageException(
              "Could not read bitmap '" + name + "' from image: Invalid argument");
        }
      }
      found.add(new Bitmap(name, tableOffset, tableSize));
      position = next;
    }
    if (count != header.bitmapCount) {
      throw new CorruptImageException("Less bitmaps found than specified in header extension");
    }
    return new BitmapCheck(header, found.build());
  }

  /** {@code check_table_entry()} of block/qcow2-bitmap.c. */
  private static boolean validTableEntry(long entry, long clusterSize) {
    long offset = entry & TABLE_ENTRY_OFFSET_MASK;
    if ((entry & TABLE_ENTRY_RESERVED_MASK) != 0) {
      return false;
    }
    return offset == 0 || ((entry & 1) == 0 && (offset & (clusterSize - 1)) == 0);
  }

  /** {@code qcow2_check_bitmaps_refcounts()}: the directory, each table and its data clusters. */
  void countReferences(CheckFile file, ClusterReferences references, CheckReport report)
      throws IOException {
    if (bitmaps.isEmpty()) {
      return;
    }
    references.increment(header.bitmapDirectoryOffset, header.bitmapDirectorySize,
        MetadataType.BITMAP_DIRECTORY);
    for (int i = 0; i < bitmaps.size() && !report.walkFailed; i++) {
      Bitmap bitmap = bitmaps.get(i);
      references.increment(bitmap.tableOffset(), bitmap.tableSize() * 8, MetadataType.BITMAP_TABLE);
      for (long entry : file.readTable(bitmap.tableOffset(), (int) bitmap.tableSize())) {
        if (!validTableEntry(entry, header.clusterSize)) {
          report.corruption("ERROR bitmap '%s' table entry 0x%x is invalid", bitmap.name(), entry);
          continue;
        }
        long offset = entry & TABLE_ENTRY_OFFSET_MASK;
        if (offset != 0) {
          references.increment(offset, header.clusterSize, MetadataType.BITMAP_DATA);
        }
      }
    }
  }
}

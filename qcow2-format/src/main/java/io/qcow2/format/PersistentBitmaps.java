package io.qcow2.format;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.LongBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The image's persistent dirty bitmaps (qcow2 spec, "Bitmaps"), kept live the way QEMU 7.2 keeps
 * them (block/qcow2-bitmap.c): every bitmap is loaded at open; opened read/write, the in-use flag
 * of each consistent bitmap is set on disk before the first guest write; every guest write sets
 * the bits of the enabled bitmaps it touches; at close each consistent bitmap is stored into new
 * clusters, a new directory with the in-use flags cleared replaces the old one, and the old
 * tables and data clusters are freed. A bitmap found in use at open is inconsistent, as in QEMU:
 * it is not loaded, tracks nothing and is left on disk as it is (qemu-img then refuses to use it
 * until it is removed).
 *
 * <p>The directory, the bitmap tables and the data clusters are entered in the overlap checker
 * ({@link MetadataType#BITMAP_DIRECTORY}, {@link MetadataType#BITMAP_TABLE}, {@link
 * MetadataType#BITMAP_DATA}) and leave it when their clusters are freed.
 */
final class PersistentBitmaps {
  /*
   * Data read from the file is validated as QEMU's bitmap_list_load(), check_dir_entry() and
   * check_table_entry() validate it, with QEMU's messages; a failure fails the open, as in QEMU.
   * Memory is bounded by QEMU's own limits: a table holds at most BME_MAX_PHYS_SIZE (512 MiB) of
   * data clusters, so at most 2^20 entries with 512-byte clusters, and a consistent bitmap at most
   * 2^32 bits.
   *
   * Bits are kept as 64-bit words, bit i of word w being granule 64 w + i; a data cluster is those
   * words in little-endian order, which is the layout the spec gives ("bit j of byte k is granule
   * 8 k + j") and QEMU's hbitmap serialisation writes.
   */
  static final int FLAG_IN_USE = 1;
  static final int FLAG_AUTO = 2;
  private static final int RESERVED_FLAGS = ~(FLAG_IN_USE | FLAG_AUTO);
  /** Bits 1-8 and 56-63 of a bitmap table entry are reserved. */
  private static final long TABLE_RESERVED_MASK = 0xff00_0000_0000_01feL;
  private static final long TABLE_OFFSET_MASK = MetadataView.BITMAP_TABLE_OFFSET_MASK;
  /** Bit 0 of a table entry without an offset: the cluster reads as all ones. */
  private static final long TABLE_ALL_ONES = 1;
  static final long MAX_TABLE_SIZE = 0x800_0000L;
  static final long MAX_PHYS_SIZE = 0x2000_0000L;
  static final int MIN_GRANULARITY_BITS = 9;
  static final int MAX_GRANULARITY_BITS = 31;
  static final int MAX_NAME_SIZE = 1023;
  private static final int ENTRY_HEADER_BYTES = 24;
  private static final int TYPE_DIRTY_TRACKING = 1;
  /**
   * Most bytes all tables and bits of an image's bitmaps may take in memory: QEMU's limit for one
   * bitmap's data (BME_MAX_PHYS_SIZE). QEMU has no total (65535 bitmaps of 512 MiB each would
   * fail its allocations); here a hostile directory cannot make the open allocate without bound.
   */
  static final long MAX_MEMORY_BYTES = MAX_PHYS_SIZE;

  private final HostFile file;
  private final Header header;
  private final Refcounts refcounts;
  private final int clusterBits;
  private final int clusterSize;
  private final List<Bitmap> bitmaps;
  /** The directory as on disk (flags patched by {@link #markInUse}). */
  private byte[] directory;

  /** One bitmap: its directory entry, its table as on disk, and its bits while open. */
  private static final class Bitmap {
    final String name;
    /** The entry's bytes as read, kept for an inconsistent bitmap, which is stored unchanged. */
    final byte[] entry;
    /** Where the entry starts in the directory. */
    final int position;
    final int granularityBits;
    int flags;
    long tableOffset;
    /** The table's raw entries. */
    long[] table;
    /** The bits, granule i at bit i; null for an inconsistent bitmap. */
    long[] words;

    Bitmap(String name, byte[] entry, int position, int granularityBits, int flags, long tableOffset,
        long[] table) {
      this.name = name;
      this.entry = entry;
      this.position = position;
      this.granularityBits = granularityBits;
      this.flags = flags;
      this.tableOffset = tableOffset;
      this.table = table;
    }

    boolean consistent() {
      return words != null;
    }

    /** Whether guest writes set its bits: consistent and auto (QEMU: enabled). */
    boolean tracking() {
      return words != null && (flags & FLAG_AUTO) != 0;
    }
  }

  private PersistentBitmaps(HostFile file, Header header, Refcounts refcounts, List<Bitmap> bitmaps,
      byte[] directory) {
    this.file = file;
    this.header = header;
    this.refcounts = refcounts;
    this.clusterBits = header.clusterBits;
    this.clusterSize = header.clusterSize;
    this.bitmaps = bitmaps;
    this.directory = directory;
  }

  /**
   * Loads the bitmaps the header's bitmaps extension lists (none when its autoclear bit is clear).
   *
   * @throws CorruptImageException with QEMU's message for a directory, an entry, a table or a
   *     table entry QEMU refuses
   */
  static PersistentBitmaps load(HostFile file, Header header, Refcounts refcounts) throws IOException {
    if (header.bitmapCount == 0) {
      return new PersistentBitmaps(file, header, refcounts, new ArrayList<>(), new byte[0]);
    }
    long size = header.bitmapDirectorySize;
    if (size == 0) {
      throw new CorruptImageException("Requested bitmap directory size is zero");
    }
    // Header bounded it by QCOW2_MAX_BITMAP_DIRECTORY_SIZE (64 MiB) and the file's end.
    byte[] dir = new byte[(int) size];
    file.read(header.bitmapDirectoryOffset, dir, 0, dir.length);
    ByteBuffer d = ByteBuffer.wrap(dir);
    List<Bitmap> list = new ArrayList<>();
    long memory = 0;
    int position = 0;
    while (position < dir.length) {
      if (position + ENTRY_HEADER_BYTES > dir.length) {
        throw new CorruptImageException("Broken bitmap directory");
      }
      if (list.size() + 1 > header.bitmapCount) {
        throw new CorruptImageException("More bitmaps found than specified in header extension");
      }
      long tableOffset = d.getLong(position);
      long tableSize = d.getInt(position + 8) & 0xffff_ffffL;
      int flags = d.getInt(position + 12);
      int type = dir[position + 16] & 0xff;
      int granularityBits = dir[position + 17] & 0xff;
      int nameSize = d.getShort(position + 18) & 0xffff;
      long extraSize = d.getInt(position + 20) & 0xffff_ffffL;
      long next = position + ((ENTRY_HEADER_BYTES + nameSize + extraSize + 7) & ~7L);
      if (next > dir.length) {
        throw new CorruptImageException("Broken bitmap directory");
      }
      if (extraSize != 0) {
        throw new CorruptImageException("Bitmap extra data is not supported");
      }
      String name = new String(dir, position + ENTRY_HEADER_BYTES, nameSize, StandardCharsets.UTF_8);
      long physicalBytes = tableSize * header.clusterSize;
      boolean inUse = (flags & FLAG_IN_USE) != 0;
      if (tableSize == 0 || tableOffset == 0 || (tableOffset & (header.clusterSize - 1)) != 0
          || tableSize > MAX_TABLE_SIZE || granularityBits > MAX_GRANULARITY_BITS
          || granularityBits < MIN_GRANULARITY_BITS || (flags & RESERVED_FLAGS) != 0
          || nameSize > MAX_NAME_SIZE || type != TYPE_DIRTY_TRACKING || physicalBytes > MAX_PHYS_SIZE
          || (!inUse && Long.compareUnsigned(header.size, (physicalBytes * 8) << granularityBits) > 0)) {
        throw new CorruptImageException(
            "Bitmap '" + ImageOpener.printable(name) + "' doesn't satisfy the constraints");
      }
      if (Long.compareUnsigned(tableOffset, Header.MAX_HOST_OFFSET - tableSize * 8) > 0) {
        throw new CorruptImageException(String.format(
            "Bitmap '%s' table at offset 0x%x ends beyond 2^56", ImageOpener.printable(name), tableOffset));
      }
      memory += tableSize * 8 + (inUse ? 0 : wordCount(bitCount(header.size, granularityBits)) * 8L);
      if (memory > MAX_MEMORY_BYTES) {
        throw UnsupportedFeatureException.features(String.format("persistent dirty bitmaps needing "
            + "more than %d bytes of memory in total (bitmap '%s' and the ones before it)",
            MAX_MEMORY_BYTES, ImageOpener.printable(name)));
      }
      long[] table = readTable(file, tableOffset, (int) tableSize);
      byte[] entry = Arrays.copyOfRange(dir, position, (int) next);
      list.add(new Bitmap(name, entry, position, granularityBits, flags, tableOffset, table));
      position = (int) next;
    }
    if (list.size() != header.bitmapCount) {
      throw new CorruptImageException("Less bitmaps found than specified in header extension");
    }
    PersistentBitmaps loaded = new PersistentBitmaps(file, header, refcounts, list, dir);
    for (Bitmap b : list) {
      if ((b.flags & FLAG_IN_USE) == 0) {
        loaded.loadBits(b);
      }
    }
    return loaded;
  }

  private static long[] readTable(HostFile file, long offset, int entries) throws IOException {
    byte[] raw = new byte[entries * 8];
    file.read(offset, raw, 0, raw.length);
    long[] table = new long[entries];
    ByteBuffer.wrap(raw).asLongBuffer().get(table);
    return table;
  }

  /** QEMU's check_table_entry. */
  private boolean validTableEntry(long entry) {
    long offset = entry & TABLE_OFFSET_MASK;
    return (entry & TABLE_RESERVED_MASK) == 0
        && (offset == 0 || ((entry & TABLE_ALL_ONES) == 0 && (offset & (clusterSize - 1)) == 0));
  }

  /** QEMU's load_bitmap(): the table's entries, then the data clusters into {@code b.words}. */
  private void loadBits(Bitmap b) throws IOException {
    for (long entry : b.table) {
      if (!validTableEntry(entry)) {
        throw new CorruptImageException("Could not read bitmap_table table from image for bitmap '"
            + ImageOpener.printable(b.name) + "': Invalid argument");
      }
    }
    long bits = bitCount(header.size, b.granularityBits);
    if (tableClusters(bits) != b.table.length) {
      throw new CorruptImageException("Could not read bitmap '" + ImageOpener.printable(b.name)
          + "' from image: Invalid argument");
    }
    long[] words = new long[wordCount(bits)];
    int wordsPerCluster = clusterSize / 8;
    byte[] cluster = new byte[clusterSize];
    LongBuffer clusterWords = ByteBuffer.wrap(cluster).order(ByteOrder.LITTLE_ENDIAN).asLongBuffer();
    for (int i = 0; i < b.table.length; i++) {
      int from = i * wordsPerCluster;
      int to = Math.min(words.length, from + wordsPerCluster);
      long offset = b.table[i] & TABLE_OFFSET_MASK;
      if (offset != 0) {
        file.read(offset, cluster, 0, clusterSize);
        clusterWords.get(0, words, from, to - from);
      } else if ((b.table[i] & TABLE_ALL_ONES) != 0) {
        Arrays.fill(words, from, to, -1L);
      }
    }
    clearBeyond(words, bits);
    b.words = words;
  }

  // ---------------------------------------------------------------------------------------------
  // Open read/write, guest writes

  /**
   * QEMU's update_ext_header_and_dir_in_place at a read/write open: the autoclear bit is cleared
   * on disk, the directory rewritten in place with the in-use flag on every consistent bitmap, then
   * the bit set again, each step flushed. A crash in between leaves the bitmaps either as they were
   * or stale (autoclear clear, which QEMU then ignores and qemu-img check counts as leaks), never
   * a consistent-looking bitmap that misses writes. Nothing is written when every bitmap is
   * already in use.
   */
  void markInUse() throws IOException {
    boolean changed = false;
    ByteBuffer d = ByteBuffer.wrap(directory);
    for (Bitmap b : bitmaps) {
      if (b.consistent()) {
        b.flags |= FLAG_IN_USE;
        d.putInt(b.position + 12, b.flags);
        changed = true;
      }
    }
    if (!changed) {
      return;
    }
    header.autoclear &= ~Header.AUTOCLEAR_BITMAPS;
    writeHeader();
    file.force(false);
    file.write(header.bitmapDirectoryOffset, directory, 0, directory.length,
        MetadataType.BITMAP_DIRECTORY.mask());
    file.force(false);
    header.autoclear |= Header.AUTOCLEAR_BITMAPS;
    writeHeader();
    file.force(false);
  }

  /**
   * A guest request accepted for {@code [offset, offset + length)} (a write, zero write, discard or
   * compressed write): the granules it touches become dirty in every tracking bitmap, as QEMU's
   * bdrv_set_dirty does for the whole requested range whatever the driver does with it.
   */
  void guestWrite(long offset, long length) {
    if (length <= 0) {
      return;
    }
    for (Bitmap b : bitmaps) {
      if (b.tracking()) {
        long first = offset >>> b.granularityBits;
        long last = (offset + length - 1) >>> b.granularityBits;
        if (wordCount(last + 1) > b.words.length) {
          b.words = Arrays.copyOf(b.words, wordCount(last + 1)); // the image grew
        }
        setRange(b.words, first, last);
      }
    }
  }

  /**
   * Before a resize or shrink: QEMU's qcow2_truncate_bitmaps_check refuses while a bitmap is
   * inconsistent (its on-disk size could not follow).
   *
   * @throws Qcow2Exception with QEMU's message
   */
  void checkResizable() throws Qcow2Exception {
    for (Bitmap b : bitmaps) {
      if (!b.consistent()) {
        throw new Qcow2Exception("Bitmap '" + ImageOpener.printable(b.name) + "' is inconsistent and "
            + "cannot be used\nTry block-dirty-bitmap-remove to delete this bitmap from disk");
      }
    }
  }

  /**
   * After a resize or shrink to {@code newSize}, as QEMU's bdrv_dirty_bitmap_truncate: granules
   * past the new end are dropped (a later growth finds them clean); new granules start clean.
   */
  void resized(long newSize) {
    for (Bitmap b : bitmaps) {
      if (b.consistent()) {
        long bits = bitCount(newSize, b.granularityBits);
        b.words = Arrays.copyOf(b.words, wordCount(bits));
        clearBeyond(b.words, bits);
      }
    }
  }

  private static void setRange(long[] words, long first, long last) {
    int firstWord = (int) (first >>> 6);
    int lastWord = (int) (last >>> 6);
    long firstMask = -1L << first;
    long lastMask = -1L >>> (63 - (last & 63));
    if (firstWord == lastWord) {
      words[firstWord] |= firstMask & lastMask;
      return;
    }
    words[firstWord] |= firstMask;
    Arrays.fill(words, firstWord + 1, lastWord, -1L);
    words[lastWord] |= lastMask;
  }

  // ---------------------------------------------------------------------------------------------
  // Close

  /**
   * QEMU's qcow2_store_persistent_dirty_bitmaps at close: each consistent bitmap is written to new
   * data clusters (only those with a bit set) and a new table, sized for the current virtual size;
   * then a new directory (in-use flags cleared, inconsistent bitmaps' entries kept as they are),
   * the refcounts, and only then the header extension pointing at it; then the old directory,
   * tables and data clusters are freed. A crash before the header write leaks the new clusters, a
   * crash after it the old ones; the bitmaps stay in use until the header write. Nothing is
   * written when no bitmap is consistent.
   */
  void store() throws IOException {
    if (bitmaps.stream().noneMatch(Bitmap::consistent)) {
      return;
    }
    MetadataTracker tracker = file.tracker;
    List<long[]> retired = new ArrayList<>(); // {offset, clusters, type mask}
    long[][] newTables = new long[bitmaps.size()][];
    long[] newTableOffsets = new long[bitmaps.size()];
    for (int i = 0; i < bitmaps.size(); i++) {
      Bitmap b = bitmaps.get(i);
      if (!b.consistent()) {
        continue;
      }
      long bits = bitCount(header.size, b.granularityBits);
      b.words = Arrays.copyOf(b.words, wordCount(bits));
      clearBeyond(b.words, bits);
      newTables[i] = storeData(b, tableClusters(bits));
      byte[] raw = new byte[(int) (clustersFor(newTables[i].length * 8L) << clusterBits)];
      ByteBuffer.wrap(raw).asLongBuffer().put(newTables[i]);
      newTableOffsets[i] = refcounts.allocate(clustersFor(raw.length));
      file.write(newTableOffsets[i], raw, 0, raw.length, 0);
      tracker.enter(newTableOffsets[i], clustersFor(raw.length), MetadataType.BITMAP_TABLE);
    }
    byte[] newDirectory = encodeDirectory(newTables, newTableOffsets);
    long newDirectoryOffset = refcounts.allocate(clustersFor(newDirectory.length));
    file.write(newDirectoryOffset, newDirectory, 0, newDirectory.length, 0);
    tracker.enter(newDirectoryOffset, clustersFor(newDirectory.length), MetadataType.BITMAP_DIRECTORY);
    refcounts.flush();
    file.force(false);

    retired.add(new long[] {header.bitmapDirectoryOffset, clustersFor(directory.length),
        MetadataType.BITMAP_DIRECTORY.mask()});
    header.bitmapDirectoryOffset = newDirectoryOffset;
    header.bitmapDirectorySize = newDirectory.length;
    byte[] extension = header.encodeBitmapsExtension();
    file.write(header.bitmapsExtensionOffset, extension, 0, extension.length,
        MetadataType.MAIN_HEADER.mask());
    file.force(false);

    directory = newDirectory;
    int position = 0;
    for (int i = 0; i < bitmaps.size(); i++) {
      Bitmap b = bitmaps.get(i);
      if (b.consistent()) {
        retired.add(new long[] {b.tableOffset, clustersFor(b.table.length * 8L),
            MetadataType.BITMAP_TABLE.mask()});
        for (long entry : b.table) {
          long offset = entry & TABLE_OFFSET_MASK;
          if (offset != 0) {
            retired.add(new long[] {offset, 1, MetadataType.BITMAP_DATA.mask()});
          }
        }
        b.tableOffset = newTableOffsets[i];
        b.table = newTables[i];
        b.flags &= ~FLAG_IN_USE;
      }
      position += entrySize(b);
    }
    assert position == directory.length;
    for (long[] r : retired) {
      tracker.remove(r[0], r[1], (int) r[2]);
      refcounts.deferFree(r[0], r[1] << clusterBits);
    }
    refcounts.checkPendingFrees();
    refcounts.applyFrees();
    refcounts.flush();
  }

  /** QEMU's store_bitmap_data: a data cluster for each part of the table with a bit set. */
  private long[] storeData(Bitmap b, int tableSize) throws IOException {
    long[] table = new long[tableSize];
    int wordsPerCluster = clusterSize / 8;
    byte[] cluster = new byte[clusterSize];
    LongBuffer clusterWords = ByteBuffer.wrap(cluster).order(ByteOrder.LITTLE_ENDIAN).asLongBuffer();
    for (int i = 0; i < tableSize; i++) {
      int from = i * wordsPerCluster;
      int to = Math.min(b.words.length, from + wordsPerCluster);
      if (!anySet(b.words, from, to)) {
        continue;
      }
      Arrays.fill(cluster, (byte) 0);
      clusterWords.put(0, b.words, from, to - from);
      long offset = refcounts.allocate(1);
      file.write(offset, cluster, 0, clusterSize, 0);
      file.tracker.enter(offset, 1, MetadataType.BITMAP_DATA);
      table[i] = offset;
    }
    return table;
  }

  private byte[] encodeDirectory(long[][] newTables, long[] newTableOffsets) {
    int size = 0;
    for (Bitmap b : bitmaps) {
      size += entrySize(b);
    }
    ByteBuffer d = ByteBuffer.allocate(size);
    for (int i = 0; i < bitmaps.size(); i++) {
      Bitmap b = bitmaps.get(i);
      int start = d.position();
      // The entry as read (type, granularity, the name's bytes as they are, padding); a consistent
      // bitmap gets its new table and its flags without in-use.
      d.put(b.entry);
      if (b.consistent()) {
        d.putLong(start, newTableOffsets[i]);
        d.putInt(start + 8, newTables[i].length);
        d.putInt(start + 12, b.flags & FLAG_AUTO);
      }
    }
    return d.array();
  }

  private static int entrySize(Bitmap b) {
    return b.entry.length;
  }

  // ---------------------------------------------------------------------------------------------
  // The overlap checker and the view

  /** Enters every bitmap table and every valid data cluster entry (the directory is the caller's). */
  void enterMetadata(MetadataTracker tracker) {
    for (Bitmap b : bitmaps) {
      tracker.enter(b.tableOffset, clustersFor(b.table.length * 8L), MetadataType.BITMAP_TABLE);
      for (long entry : b.table) {
        long offset = entry & TABLE_OFFSET_MASK;
        // An in-use bitmap's table is not validated at open (QEMU does not read it); only entries
        // QEMU would accept are entered.
        if (offset != 0 && validTableEntry(entry)) {
          tracker.enter(offset, 1, MetadataType.BITMAP_DATA);
        }
      }
    }
  }

  int count() {
    return bitmaps.size();
  }

  long tableOffset(int bitmap) {
    return bitmaps.get(bitmap).tableOffset;
  }

  int tableSize(int bitmap) {
    return bitmaps.get(bitmap).table.length;
  }

  /** Entry {@code index} of bitmap {@code bitmap}'s table; 0 for an entry QEMU would refuse. */
  long tableEntry(int bitmap, int index) {
    long entry = bitmaps.get(bitmap).table[index];
    return validTableEntry(entry) ? entry : 0;
  }

  /** Whether bitmap {@code bitmap}'s granule {@code granule} is dirty (false if inconsistent). */
  boolean isDirty(int bitmap, long granule) {
    long[] words = bitmaps.get(bitmap).words;
    int word = (int) (granule >>> 6);
    return words != null && word < words.length && (words[word] & (1L << granule)) != 0;
  }

  // ---------------------------------------------------------------------------------------------

  private void writeHeader() throws IOException {
    byte[] h = header.encode();
    file.write(0, h, 0, h.length, MetadataType.MAIN_HEADER.mask());
  }

  /** Granules of {@code 1 << granularityBits} bytes covering {@code size} bytes. */
  private static long bitCount(long size, int granularityBits) {
    return (size + (1L << granularityBits) - 1) >>> granularityBits;
  }

  private static int wordCount(long bits) {
    return Math.toIntExact((bits + 63) >>> 6);
  }

  /** Table entries for {@code bits} bits: QEMU's size_to_clusters(serialization size). */
  private int tableClusters(long bits) {
    long bytes = wordCount(bits) * 8L;
    return (int) ((bytes + clusterSize - 1) >>> clusterBits);
  }

  private long clustersFor(long bytes) {
    return (bytes + clusterSize - 1) >>> clusterBits;
  }

  private static void clearBeyond(long[] words, long bits) {
    if ((bits & 63) != 0 && words.length > 0) {
      words[words.length - 1] &= -1L >>> (64 - (bits & 63));
    }
  }

  private static boolean anySet(long[] words, int from, int to) {
    for (int i = from; i < to; i++) {
      if (words[i] != 0) {
        return true;
      }
    }
    return false;
  }
}

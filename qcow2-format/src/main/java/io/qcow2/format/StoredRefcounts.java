package io.qcow2.format;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The refcounts stored in the image, as the check reads and repairs them: the refcount table read
 * once (cut at the end of the file: the rest reads as zero), refcount blocks decoded by {@link
 * RefcountEntries}, one block cached because a check looks up every cluster's refcount in order.
 */
final class StoredRefcounts {
  /** What {@link #get} returns for a refcount that cannot be read. */
  static final long UNREADABLE = Long.MIN_VALUE;
  static final long OFFSET_MASK = MetadataView.REFCOUNT_TABLE_OFFSET_MASK;
  /** Bits of a refcount table entry that must be zero (qcow2.txt "Refcount table"). */
  static final long RESERVED_MASK = 0x1ffL;

  private final CheckFile file;
  private final int clusterBits;
  private final long clusterSize;
  private final int refcountOrder;
  private final long refcountMax;
  private long tableOffset;
  /** Refcount table entries; those past the end of the file are not held (they read as 0). */
  private long[] table;
  /** Entries the table has (header's refcount_table_clusters), held or not. */
  private int tableSize;
  private long cachedBlockOffset = -1;
  private byte[] cachedBlock;

  StoredRefcounts(CheckFile file, CheckedHeader header) throws IOException {
    this.file = file;
    this.clusterBits = header.clusterBits;
    this.clusterSize = header.clusterSize;
    this.refcountOrder = header.refcountOrder;
    this.refcountMax = header.refcountMax;
    this.tableOffset = header.refcountTableOffset;
    this.tableSize = header.refcountTableSize;
    this.table = file.readTable(tableOffset, tableSize);
  }

  long tableOffset() {
    return tableOffset;
  }

  int tableSize() {
    return tableSize;
  }

  /** Entry {@code index} of the refcount table; the part past the end of the file reads 0. */
  long tableEntry(int index) {
    return index < table.length ? table[index] : 0;
  }

  /** After a rebuild: the new table at {@code offset}, of {@code size} entries. */
  void replaceTable(long offset, long[] newTable, int size) {
    tableOffset = offset;
    table = newTable;
    tableSize = size;
    cachedBlockOffset = -1;
  }

  /** {@code qcow2_get_refcount}: the stored refcount, or {@link #UNREADABLE}. */
  long get(long cluster) throws IOException {
    int blockBits = clusterBits + 3 - refcountOrder;
    long tableIndex = cluster >>> blockBits;
    if (tableIndex >= tableSize) {
      return 0;
    }
    long blockOffset = tableEntry((int) tableIndex) & OFFSET_MASK;
    if (blockOffset == 0) {
      return 0;
    }
    if ((blockOffset & (clusterSize - 1)) != 0 || blockOffset < 0
        || blockOffset > Long.MAX_VALUE - clusterSize) {
      return UNREADABLE; // QEMU: unaligned is corruption, past 2^63 an I/O error
    }
    int index = (int) (cluster & ((1L << blockBits) - 1));
    return RefcountEntries.get(block(blockOffset), index, refcountOrder);
  }

  /**
   * Sets the stored refcount of {@code cluster}, whose refcount block exists (its refcount was
   * read from it); false if the value does not fit or the write would hit metadata {@code
   * references} found, other than refcount blocks.
   */
  boolean set(long cluster, long value, ClusterReferences references) throws IOException {
    if (Long.compareUnsigned(value, refcountMax) > 0) {
      return false;
    }
    int blockBits = clusterBits + 3 - refcountOrder;
    long blockOffset = tableEntry((int) (cluster >>> blockBits)) & OFFSET_MASK;
    byte[] block = block(blockOffset);
    int index = (int) (cluster & ((1L << blockBits) - 1));
    RefcountEntries.set(block, index, refcountOrder, value);
    int bytes = refcountOrder < 3 ? 1 : 1 << (refcountOrder - 3);
    int first = refcountOrder < 3 ? (index << refcountOrder) >>> 3 : index * bytes;
    if (!references.overlapFree(blockOffset + first, bytes, MetadataType.REFCOUNT_BLOCK.mask())) {
      cachedBlockOffset = -1; // the cached copy no longer matches the file
      return false;
    }
    file.write(ByteBuffer.wrap(block, first, bytes).slice(), blockOffset + first);
    return true;
  }

  /** The block at {@code blockOffset}, read into the one cached array. */
  private byte[] block(long blockOffset) throws IOException {
    if (blockOffset != cachedBlockOffset) {
      if (cachedBlock == null) {
        cachedBlock = new byte[(int) clusterSize];
      }
      file.readInto(cachedBlock, blockOffset);
      cachedBlockOffset = blockOffset;
    }
    return cachedBlock;
  }
}

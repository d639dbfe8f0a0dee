package io.qcow2.format;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The header as {@code qemu-img check} opens an image (QEMU 7.2's {@code qcow2_do_open}, as far as
 * a check needs it). The fields and extensions are decoded by the engine's codec ({@link
 * Header.Fields}, {@link HeaderExtension#locate}); only the validation is check's own, because
 * QEMU opening for a check tolerates what the engine refuses: tables past the end of the file
 * (they read as zeros), a refcount table of no clusters, a header length that is not a multiple
 * of 8. The messages are QEMU's.
 */
final class CheckedHeader {
  final int version;
  final int clusterBits;
  final long clusterSize;
  final int refcountOrder;
  /** Largest stored refcount, unsigned. */
  final long refcountMax;
  final long virtualSize;
  final long l1Offset;
  /** Entries of the active L1 table, at most {@code MAX_L1_BYTES / 8}. */
  final int l1Size;
  final long refcountTableOffset;
  /** Entries of the refcount table, at most {@code MAX_REFTABLE_BYTES / 8}. */
  final int refcountTableSize;
  final long snapshotsOffset;
  final int snapshotCount;
  final long incompatible;
  /** The bitmaps extension's fields, all zero without one (or with the autoclear bit clear). */
  final int bitmapCount;
  final long bitmapDirectoryOffset;
  final long bitmapDirectorySize;

  private CheckedHeader(Header.Fields f, byte[] cluster0) throws CorruptImageException,
      UnsupportedFeatureException {
    checkIdentity(f);
    version = f.version();
    clusterBits = f.clusterBits();
    clusterSize = 1L << clusterBits;
    virtualSize = f.size();
    l1Size = f.l1Size();
    l1Offset = f.l1Offset();
    refcountTableOffset = f.refcountTableOffset();
    snapshotsOffset = f.snapshotsOffset();
    incompatible = f.incompatible();
    long headerLength = f.headerLength();
    if (version == 3 && headerLength < Header.V3_MIN_LENGTH) {
      throw new CorruptImageException("qcow2 header too short");
    }
    if (headerLength > clusterSize) {
      throw new CorruptImageException("qcow2 header exceeds cluster size");
    }
    long unknown = incompatible & ~(Header.INCOMPAT_DIRTY | Header.INCOMPAT_CORRUPT
        | Header.INCOMPAT_DATA_FILE | Header.INCOMPAT_COMPRESSION | Header.INCOMPAT_EXTL2);
    if (unknown != 0) {
      throw new UnsupportedFeatureException(String.format(
          "Unsupported qcow2 feature(s): incompatible bits 0x%x", unknown));
    }
    if ((incompatible & Header.INCOMPAT_DATA_FILE) != 0) {
      throw new UnsupportedFeatureException("Unsupported qcow2 feature(s): external data file");
    }
    if ((incompatible & Header.INCOMPAT_EXTL2) != 0) {
      throw new UnsupportedFeatureException("Unsupported qcow2 feature(s): extended L2 entries");
    }
    // validate_compression_type(): zlib or zstd, the bit set exactly when not zlib.
    int compressionType = f.compressionType();
    if (compressionType > CompressedClusters.MAX_TYPE) {
      throw new UnsupportedFeatureException(
          "qcow2: unknown compression type: " + compressionType);
    }
    boolean zlib = compressionType == CompressedClusters.ZLIB;
    if (zlib == ((incompatible & Header.INCOMPAT_COMPRESSION) != 0)) {
      throw new CorruptImageException("qcow2: Compression type incompatible feature bit must "
          + (zlib ? "not " : "") + "be set");
    }
    refcountOrder = f.refcountOrder();
    if (refcountOrder < 0 || refcountOrder > 6) {
      throw new CorruptImageException(
          "Reference count entry width too large; may not exceed 64 bits");
    }
    refcountMax = RefcountEntries.max(refcountOrder);
    if (f.cryptMethod() != 0) {
      throw new UnsupportedFeatureException("Unsupported qcow2 feature(s): encryption");
    }
    if (virtualSize < 0) {
      throw new CorruptImageException("Image is too big");
    }

    // qcow2_validate_table() for each table. No refcount table is allowed when checking (QEMU
    // opens with BDRV_O_CHECK): every referenced cluster then shows as refcount 0.
    long refcountTableClusters = Integer.toUnsignedLong(f.refcountTableClusters());
    if (refcountTableClusters > Header.MAX_REFTABLE_BYTES >>> clusterBits) {
      throw new CorruptImageException("Reference count table too large");
    }
    checkTable(refcountTableOffset, refcountTableClusters << clusterBits,
        "Reference count table");
    refcountTableSize = (int) ((refcountTableClusters << clusterBits) / 8);

    // The snapshot table's entries are read later, as QEMU's check does.
    long snapshots = Integer.toUnsignedLong(f.snapshotCount());
    if (snapshots > Header.MAX_SNAPSHOTS) {
      throw new CorruptImageException("Too many snapshots");
    }
    snapshotCount = (int) snapshots;
    checkTable(snapshotsOffset, snapshots * Snapshot.HEADER_SIZE, "Snapshot table");

    long l1Entries = Integer.toUnsignedLong(l1Size);
    if (l1Entries > Header.MAX_L1_BYTES / 8) {
      throw new CorruptImageException("Active L1 table too large");
    }
    long l1Needed = Header.l1EntriesFor(virtualSize, clusterBits);
    if (l1Needed > Integer.MAX_VALUE) {
      throw new CorruptImageException("Image is too big");
    }
    if (l1Entries < l1Needed) {
      throw new CorruptImageException("L1 table is too small");
    }
    checkTable(l1Offset, l1Entries * 8, "Active L1 table");

    long backingFileOffset = f.backingFileOffset();
    if (backingFileOffset != 0
        && (Integer.toUnsignedLong(f.backingFileSize()) > Header.MAX_BACKING_NAME
            || Long.compareUnsigned(backingFileOffset, clusterSize) > 0)) {
      throw new CorruptImageException("Backing file name too long");
    }

    // qcow2_read_extensions(), for the bitmaps extension.
    long end = backingFileOffset != 0 ? backingFileOffset : clusterSize;
    ByteBuffer bitmaps = null;
    for (HeaderExtension.Location e : HeaderExtension.locate(cluster0, headerLength, end)) {
      if (e.exceeds(end)) {
        throw new CorruptImageException("Header extension too large");
      }
      if (e.type() == HeaderExtension.BITMAPS) {
        bitmaps = bitmapsExtension(e, cluster0, f.autoclear());
      }
    }
    if ((f.autoclear() & Header.AUTOCLEAR_DATA_FILE_RAW) != 0) {
      // Data files are refused above, so the bit can only be wrong.
      throw new CorruptImageException("data-file-raw requires a data file");
    }
    bitmapCount = bitmaps == null ? 0 : bitmaps.getInt(0);
    bitmapDirectorySize = bitmaps == null ? 0 : bitmaps.getLong(8);
    bitmapDirectoryOffset = bitmaps == null ? 0 : bitmaps.getLong(16);
  }

  /** Reads cluster 0 (zeros past the end of the file) and validates it. */
  static CheckedHeader read(CheckFile file) throws IOException {
    Header.Fields fields = Header.Fields.decode(file.read(0, Header.V3_MIN_LENGTH).array());
    checkIdentity(fields);
    byte[] cluster0 = file.read(0, 1 << fields.clusterBits()).array();
    return new CheckedHeader(Header.Fields.decode(cluster0), cluster0);
  }

  /** The magic, the version and the cluster size, which say how much of the header to read. */
  private static void checkIdentity(Header.Fields f) throws CorruptImageException,
      UnsupportedFeatureException {
    if (f.magic() != Header.MAGIC) {
      throw new CorruptImageException("Image is not in qcow2 format");
    }
    if (f.version() != 2 && f.version() != 3) {
      throw new UnsupportedFeatureException("Unsupported qcow2 version " + f.version());
    }
    if (f.clusterBits() < 9 || f.clusterBits() > 21) {
      throw new CorruptImageException(
          "Unsupported cluster size: 2^" + Integer.toUnsignedString(f.clusterBits()));
    }
  }

  /**
   * The bitmaps extension's data if it counts (its autoclear bit is set), validated as QEMU's
   * {@code qcow2_read_extensions} does; null if it does not count.
   */
  private ByteBuffer bitmapsExtension(HeaderExtension.Location e, byte[] cluster0,
      long autoclear) throws CorruptImageException {
    if (e.length() != 24) {
      throw new CorruptImageException("bitmaps_ext: Invalid extension length");
    }
    if ((autoclear & Header.AUTOCLEAR_BITMAPS) == 0) {
      return null; // a program without bitmap support touched the image: bitmaps are ignored
    }
    ByteBuffer b = ByteBuffer.wrap(cluster0, (int) e.dataOffset(), 24).slice();
    long count = Integer.toUnsignedLong(b.getInt(0));
    long directorySize = b.getLong(8);
    if (b.getInt(4) != 0) {
      throw new CorruptImageException("bitmaps_ext: Reserved field is not zero");
    }
    if (count > Header.MAX_BITMAPS) {
      throw new CorruptImageException("bitmaps_ext: Image has " + count
          + " bitmaps, exceeding the QEMU supported maximum of " + Header.MAX_BITMAPS);
    }
    if (count == 0) {
      throw new CorruptImageException("found bitmaps extension with zero bitmaps");
    }
    if ((b.getLong(16) & (clusterSize - 1)) != 0) {
      throw new CorruptImageException("bitmaps_ext: invalid bitmap directory offset");
    }
    if (Long.compareUnsigned(directorySize, Header.MAX_BITMAP_DIRECTORY) > 0) {
      throw new CorruptImageException("bitmaps_ext: bitmap directory size ("
          + Long.toUnsignedString(directorySize) + ") exceeds the maximum supported size ("
          + Header.MAX_BITMAP_DIRECTORY + ")");
    }
    return b;
  }

  private void checkTable(long offset, long bytes, String name) throws CorruptImageException {
    if (Long.MAX_VALUE - bytes < offset || offset < 0) {
      throw new CorruptImageException(name + " exceeds the maximum supported size");
    }
    if ((offset & (clusterSize - 1)) != 0) {
      throw new CorruptImageException(name + " offset invalid");
    }
  }

  /** QEMU's {@code bdrv_getlength()} of the image: the virtual size in whole 512-byte sectors. */
  long diskLength() {
    return virtualSize & ~511L;
  }
}

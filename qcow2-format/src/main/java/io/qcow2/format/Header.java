package io.qcow2.format;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The parsed, validated qcow2 header (spec "Header" and "Header extensions"). Mutable only in the
 * fields the engine rewrites: L1 table, refcount table, size and feature bits; {@link #encode()}
 * patches them into the header bytes read from the file, so unknown fields and extensions survive.
 */
final class Header {
  static final int MAGIC = 0x514649fb;
  static final int V2_LENGTH = 72;
  static final int V3_MIN_LENGTH = 104;

  static final long INCOMPAT_DIRTY = 1L;
  static final long INCOMPAT_CORRUPT = 1L << 1;
  static final long INCOMPAT_DATA_FILE = 1L << 2;
  static final long INCOMPAT_COMPRESSION = 1L << 3;
  static final long INCOMPAT_EXTL2 = 1L << 4;
  static final long COMPAT_LAZY_REFCOUNTS = 1L;
  static final long AUTOCLEAR_BITMAPS = 1L;
  static final long AUTOCLEAR_DATA_FILE_RAW = 1L << 1;

  /** QEMU's limits (block/qcow2.h). */
  static final long MAX_L1_BYTES = 32L << 20;
  static final long MAX_REFTABLE_BYTES = 8L << 20;
  static final int MAX_SNAPSHOTS = 65536;
  static final int MAX_BACKING_NAME = 1023;
  static final int MAX_BACKING_FORMAT = 15;
  static final int MAX_BITMAPS = 65535;
  /** QEMU's QCOW2_MAX_BITMAP_DIRECTORY_SIZE: 1024 bytes per bitmap (was 64 MiB here, 1 KiB off). */
  static final long MAX_BITMAP_DIRECTORY = 1024L * MAX_BITMAPS;
  static final long MAX_HOST_OFFSET = 1L << 56;

  private static final Map<Integer, String> INCOMPAT_NAMES = Map.of(
      0, "dirty bit", 1, "corrupt bit", 2, "external data file", 3, "compression type",
      4, "extended L2 entries");

  /** Raw bytes of cluster 0, as read (or as built by create). */
  final byte[] raw;
  final int version;
  final int clusterBits;
  final int clusterSize;
  long size;
  final int cryptMethod;
  int l1Size;
  long l1Offset;
  long refcountTableOffset;
  int refcountTableClusters;
  int snapshotCount;
  long snapshotsOffset;
  long incompatible;
  final long compatible;
  long autoclear;
  final int refcountOrder;
  final int headerLength;
  final int compressionType;
  final long backingFileOffset;
  final int backingFileSize;
  final String backingFile;
  final String backingFormat;
  final List<HeaderExtension> extensions;
  /** Feature name table: (type << 8 | bit) → name. */
  final Map<Integer, String> featureNames;
  final int bitmapCount;
  long bitmapDirectorySize;
  long bitmapDirectoryOffset;
  /** Where the bitmaps extension's data starts in cluster 0; -1 without one. */
  final int bitmapsExtensionOffset;

  /**
   * The fixed header fields as stored (spec "Header"), before any validation: the one place their
   * offsets live. {@link Header} validates them for the engine; check validates them as {@code
   * qemu-img check} opens an image, which tolerates what the engine refuses (a refcount table past
   * the end of the file, a header length that is not a multiple of 8). Only version 3 has the
   * fields from offset 72 on: other versions get version 2's values (no feature bits, 16-bit
   * refcounts, a 72-byte header, zlib).
   *
   * @param headerLength unsigned, as stored
   */
  record Fields(int magic, int version, long backingFileOffset, int backingFileSize,
      int clusterBits, long size, int cryptMethod, int l1Size, long l1Offset,
      long refcountTableOffset, int refcountTableClusters, int snapshotCount, long snapshotsOffset,
      long incompatible, long compatible, long autoclear, int refcountOrder, long headerLength,
      int compressionType) {

    /**
     * Decodes the fields of the header at the start of {@code raw}, at least {@link
     * #V3_MIN_LENGTH} bytes; the compression type (offset 104) reads as zlib if {@code raw} ends
     * before it.
     */
    static Fields decode(byte[] raw) {
      if (raw.length < V3_MIN_LENGTH) {
        throw new IllegalArgumentException("header of " + raw.length + " bytes, at least "
            + V3_MIN_LENGTH + " needed");
      }
      ByteBuffer b = ByteBuffer.wrap(raw);
      int version = b.getInt(4);
      boolean v3 = version == 3;
      long headerLength = v3 ? Integer.toUnsignedLong(b.getInt(100)) : V2_LENGTH;
      return new Fields(b.getInt(0), version, b.getLong(8), b.getInt(16), b.getInt(20),
          b.getLong(24), b.getInt(32), b.getInt(36), b.getLong(40), b.getLong(48), b.getInt(56),
          b.getInt(60), b.getLong(64), v3 ? b.getLong(72) : 0, v3 ? b.getLong(80) : 0,
          v3 ? b.getLong(88) : 0, v3 ? b.getInt(96) : 4, headerLength,
          headerLength > V3_MIN_LENGTH && raw.length > V3_MIN_LENGTH ? raw[104] & 0xff : 0);
    }
  }

  private Header(byte[] raw, long fileSize) throws Qcow2Exception {
    this.raw = raw;
    Fields f = Fields.decode(raw);
    if (f.magic() != MAGIC) {
      throw CorruptImageException.field("magic", f.magic() & 0xffffffffL, "not a qcow2 image (expected 0x514649fb)", 0);
    }
    version = f.version();
    if (version != 2 && version != 3) {
      throw version > 3 || version < 0
          ? UnsupportedFeatureException.features("QCOW version " + Integer.toUnsignedString(version))
          : CorruptImageException.field("version", version, "must be 2 or 3", 4);
    }
    clusterBits = f.clusterBits();
    if (clusterBits < 9 || clusterBits > 21) {
      throw CorruptImageException.field("cluster_bits", clusterBits, "must be in [9, 21] (512 B to 2 MiB)", 20);
    }
    clusterSize = 1 << clusterBits;
    if (raw.length < clusterSize) {
      throw new IllegalStateException("header buffer shorter than a cluster");
    }
    incompatible = f.incompatible();
    compatible = f.compatible();
    autoclear = f.autoclear();
    refcountOrder = f.refcountOrder();
    if (refcountOrder < 0 || refcountOrder > 6) {
      throw CorruptImageException.field("refcount_order", refcountOrder, "must be in [0, 6] (1 to 64 bits)", 96);
    }
    long length = f.headerLength();
    if (version == 3 && (length < V3_MIN_LENGTH || length > clusterSize || (length & 7) != 0)) {
      throw CorruptImageException.field("header_length", length,
          "must be a multiple of 8 in [104, cluster size " + clusterSize + "]", 100);
    }
    headerLength = (int) length;
    compressionType = f.compressionType();
    size = f.size();
    if (size < 0) {
      throw CorruptImageException.field("size", size, "must be below 2^63", 24);
    }
    cryptMethod = f.cryptMethod();

    backingFileOffset = f.backingFileOffset();
    backingFileSize = f.backingFileSize();
    if (backingFileOffset != 0) {
      if (backingFileOffset < 0 || backingFileOffset > clusterSize) {
        throw CorruptImageException.field("backing_file_offset", backingFileOffset,
            "must be within the first cluster (" + clusterSize + " bytes)", 8);
      }
      if (backingFileSize < 0 || backingFileSize > MAX_BACKING_NAME
          || backingFileSize > clusterSize - backingFileOffset) {
        throw CorruptImageException.field("backing_file_size", backingFileSize & 0xffffffffL,
            "must be at most " + MAX_BACKING_NAME + " and end within the first cluster", 16);
      }
      backingFile = new String(raw, (int) backingFileOffset, backingFileSize, StandardCharsets.UTF_8);
    } else {
      backingFile = null;
    }

    l1Size = f.l1Size();
    l1Offset = f.l1Offset();
    refcountTableOffset = f.refcountTableOffset();
    refcountTableClusters = f.refcountTableClusters();
    snapshotCount = f.snapshotCount();
    snapshotsOffset = f.snapshotsOffset();

    long maxReftableClusters = MAX_REFTABLE_BYTES >>> clusterBits;
    if (refcountTableClusters <= 0 || refcountTableClusters > maxReftableClusters) {
      throw CorruptImageException.field("refcount_table_clusters", refcountTableClusters & 0xffffffffL,
          "must be in [1, " + maxReftableClusters + "] (refcount table at most 8 MiB)", 56);
    }
    checkTable("refcount_table_offset", refcountTableOffset, (long) refcountTableClusters << clusterBits, 48, fileSize);

    if (snapshotCount < 0 || snapshotCount > MAX_SNAPSHOTS) {
      throw CorruptImageException.field("nb_snapshots", snapshotCount & 0xffffffffL,
          "must be at most " + MAX_SNAPSHOTS, 60);
    }
    if (snapshotCount > 0) {
      checkTable("snapshots_offset", snapshotsOffset, (long) snapshotCount * Snapshot.HEADER_SIZE, 64, fileSize);
    }

    long maxL1 = MAX_L1_BYTES / 8;
    if (l1Size < 0 || l1Size > maxL1) {
      throw CorruptImageException.field("l1_size", l1Size & 0xffffffffL,
          "must be at most " + maxL1 + " entries (L1 table at most 32 MiB)", 36);
    }
    long needed = l1EntriesFor(size, clusterBits);
    if (needed > maxL1) {
      throw CorruptImageException.field("size", size,
          "needs " + needed + " L1 entries, more than the maximum " + maxL1, 24);
    }
    if (l1Size < needed) {
      throw CorruptImageException.field("l1_size", l1Size,
          "too small for virtual size " + size + " (needs " + needed + " entries)", 36);
    }
    if (l1Size > 0) {
      checkTable("l1_table_offset", l1Offset, (long) l1Size * 8, 40, fileSize);
    }

    // Header extensions, up to the backing file name or the end of the cluster.
    long end = backingFileOffset != 0 ? backingFileOffset : clusterSize;
    List<HeaderExtension> exts = new ArrayList<>();
    Map<Integer, String> names = new TreeMap<>();
    String format = null;
    int nbBitmaps = 0;
    long bitmapSize = 0;
    long bitmapOffset = 0;
    int bitmapsExtension = -1;
    for (HeaderExtension.Location location : HeaderExtension.locate(raw, headerLength, end)) {
      // Bytes too few for another extension before the end are ignored.
      if (location.type() == 0 || location.dataOffset() > end) {
        break;
      }
      int type = location.type();
      long len = location.length();
      long dataOffset = location.dataOffset();
      long offset = dataOffset - 8;
      if (location.exceeds(end)) {
        throw CorruptImageException.field("header extension 0x" + Integer.toHexString(type) + " length", len,
            "exceeds the " + (end - dataOffset) + " bytes left before offset " + end, offset + 4);
      }
      byte[] data = new byte[(int) len];
      System.arraycopy(raw, (int) dataOffset, data, 0, (int) len);
      exts.add(new HeaderExtension(type, data));
      switch (type) {
        case HeaderExtension.BACKING_FORMAT:
          if (len > MAX_BACKING_FORMAT) {
            throw CorruptImageException.field("backing format extension length", len,
                "must be at most " + MAX_BACKING_FORMAT, offset + 4);
          }
          format = new String(data, StandardCharsets.UTF_8);
          break;
        case HeaderExtension.FEATURE_NAME_TABLE:
          for (int i = 0; i + 48 <= len; i += 48) {
            int ftype = data[i] & 0xff;
            int bit = data[i + 1] & 0xff;
            int n = 0;
            while (n < 46 && data[i + 2 + n] != 0) {
              n++;
            }
            names.put(ftype << 8 | bit, new String(data, i + 2, n, StandardCharsets.UTF_8));
          }
          break;
        case HeaderExtension.BITMAPS:
          if (len < 24) {
            throw CorruptImageException.field("bitmaps extension length", len, "must be at least 24", offset + 4);
          }
          if ((autoclear & AUTOCLEAR_BITMAPS) != 0) {
            bitmapsExtension = (int) dataOffset;
            ByteBuffer d = ByteBuffer.wrap(data);
            nbBitmaps = d.getInt(0);
            bitmapSize = d.getLong(8);
            bitmapOffset = d.getLong(16);
            if (nbBitmaps < 0 || nbBitmaps > MAX_BITMAPS) {
              throw CorruptImageException.field("nb_bitmaps", nbBitmaps & 0xffffffffL,
                  "must be at most " + MAX_BITMAPS, dataOffset);
            }
            if (bitmapSize < 0 || bitmapSize > MAX_BITMAP_DIRECTORY) {
              throw CorruptImageException.field("bitmap_directory_size", bitmapSize,
                  "must be at most " + MAX_BITMAP_DIRECTORY, dataOffset + 8);
            }
            if (nbBitmaps > 0) {
              checkTable("bitmap_directory_offset", bitmapOffset, bitmapSize, dataOffset + 16, fileSize);
            }
          }
          break;
        default:
          break;
      }
    }
    extensions = List.copyOf(exts);
    featureNames = Map.copyOf(names);
    backingFormat = format;
    bitmapCount = nbBitmaps;
    bitmapDirectorySize = nbBitmaps > 0 ? bitmapSize : 0;
    bitmapDirectoryOffset = nbBitmaps > 0 ? bitmapOffset : 0;
    bitmapsExtensionOffset = bitmapsExtension;
  }

  /**
   * Reads and validates the header in cluster 0.
   *
   * @throws CorruptImageException naming the field, its value, the limit and its file offset
   * @throws UnsupportedFeatureException for a version above 3
   */
  static Header read(HostIo io) throws IOException {
    long fileSize = io.size();
    byte[] first = new byte[V3_MIN_LENGTH];
    readFully(io, first, 0);
    Fields fields = Fields.decode(first);
    int clusterBits = fields.clusterBits();
    if (fields.magic() == MAGIC && (clusterBits < 9 || clusterBits > 21)) {
      throw CorruptImageException.field("cluster_bits", clusterBits, "must be in [9, 21] (512 B to 2 MiB)", 20);
    }
    byte[] raw = new byte[clusterBits >= 9 && clusterBits <= 21 ? 1 << clusterBits : V3_MIN_LENGTH];
    readFully(io, raw, 0);
    return new Header(raw, fileSize);
  }

  /** Parses a header built in memory (by create). */
  static Header parse(byte[] cluster0, long fileSize) throws Qcow2Exception {
    return new Header(cluster0, fileSize);
  }

  /** Reads {@code buf.length} bytes at {@code offset}; bytes beyond the end of file read as zero. */
  static void readFully(HostIo io, byte[] buf, long offset) throws IOException {
    ByteBuffer bb = ByteBuffer.wrap(buf);
    while (bb.hasRemaining()) {
      int n = io.read(bb, offset + bb.position());
      if (n < 0) {
        java.util.Arrays.fill(buf, bb.position(), buf.length, (byte) 0);
        return;
      }
    }
  }

  private void checkTable(String field, long offset, long bytes, long fieldOffset, long fileSize)
      throws CorruptImageException {
    if (offset <= 0 || (offset & (clusterSize - 1)) != 0) {
      throw CorruptImageException.field(field, offset,
          "must be a positive multiple of the cluster size " + clusterSize, fieldOffset);
    }
    if (offset >= MAX_HOST_OFFSET || bytes > MAX_HOST_OFFSET - offset) {
      throw CorruptImageException.field(field, offset, "table of " + bytes + " bytes ends beyond 2^56", fieldOffset);
    }
    if (offset + bytes > fileSize) {
      throw CorruptImageException.field(field, offset,
          "table of " + bytes + " bytes ends beyond the end of the file (" + fileSize + " bytes)", fieldOffset);
    }
  }

  /** L1 entries needed to map {@code size} bytes (QEMU's size_to_l1). */
  static long l1EntriesFor(long size, int clusterBits) {
    int shift = clusterBits + clusterBits - 3;
    return (size + (1L << shift) - 1) >>> shift;
  }

  /**
   * Fails with QEMU's message if an incompatible feature we do not implement is set, or the
   * compression type is unknown or disagrees with its incompatible bit.
   */
  void checkFeatures() throws UnsupportedFeatureException, CorruptImageException {
    long unsupported = incompatible & ~(INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_COMPRESSION);
    List<String> names = new ArrayList<>();
    for (int bit = 0; bit < 64; bit++) {
      if ((unsupported & (1L << bit)) != 0) {
        String name = featureNames.get(bit);
        if (name == null) {
          name = INCOMPAT_NAMES.get(bit);
        }
        if (name == null) {
          name = "Unknown incompatible feature: " + Long.toHexString(1L << bit);
        }
        names.add(name);
      }
    }
    if (!names.isEmpty()) {
      throw UnsupportedFeatureException.features(String.join(", ", names));
    }
    if (cryptMethod != 0) {
      throw UnsupportedFeatureException.features("encryption (crypt_method " + cryptMethod + ")");
    }
    // QEMU's validate_compression_type: zlib or zstd, and the bit set exactly for zstd.
    if (compressionType > CompressedClusters.MAX_TYPE) {
      throw UnsupportedFeatureException.features("compression type " + compressionType);
    }
    if ((compressionType != CompressedClusters.ZLIB) != ((incompatible & INCOMPAT_COMPRESSION) != 0)) {
      throw new CorruptImageException("Compression type incompatible feature bit must "
          + (compressionType == CompressedClusters.ZLIB ? "not " : "") + "be set");
    }
  }

  int refcountBits() {
    return 1 << refcountOrder;
  }

  boolean dirty() {
    return (incompatible & INCOMPAT_DIRTY) != 0;
  }

  boolean corrupt() {
    return (incompatible & INCOMPAT_CORRUPT) != 0;
  }

  boolean lazyRefcounts() {
    return (compatible & COMPAT_LAZY_REFCOUNTS) != 0;
  }

  /** The header bytes [0, headerLength) with the mutable fields patched in. */
  byte[] encode() {
    ByteBuffer b = ByteBuffer.wrap(raw);
    b.putLong(24, size);
    b.putInt(36, l1Size);
    b.putLong(40, l1Offset);
    b.putLong(48, refcountTableOffset);
    b.putInt(56, refcountTableClusters);
    b.putInt(60, snapshotCount);
    b.putLong(64, snapshotsOffset);
    if (version >= 3) {
      b.putLong(72, incompatible);
      b.putLong(88, autoclear);
    }
    byte[] out = new byte[headerLength];
    System.arraycopy(raw, 0, out, 0, headerLength);
    return out;
  }

  /**
   * The bitmaps extension's 24 data bytes with the directory's offset and size patched in, to be
   * written at {@link #bitmapsExtensionOffset} (the number of bitmaps does not change).
   */
  byte[] encodeBitmapsExtension() {
    if (bitmapsExtensionOffset < 0) {
      throw new IllegalStateException("the image has no bitmaps extension");
    }
    ByteBuffer b = ByteBuffer.wrap(raw);
    b.putLong(bitmapsExtensionOffset + 8, bitmapDirectorySize);
    b.putLong(bitmapsExtensionOffset + 16, bitmapDirectoryOffset);
    return Arrays.copyOfRange(raw, bitmapsExtensionOffset, bitmapsExtensionOffset + 24);
  }

  ImageInfo info() {
    return new ImageInfo(version, clusterBits, refcountBits(), size, l1Size, l1Offset,
        refcountTableOffset, refcountTableClusters, snapshotCount, incompatible, compatible,
        autoclear, dirty(), corrupt(), lazyRefcounts(), backingFile, backingFormat, extensions);
  }

  /**
   * After a refused request: the fields the engine changes in memory (virtual size, L1 table and
   * refcount table location) back to those of {@code onDisk}, the file's first {@link
   * #V3_MIN_LENGTH} bytes, unless they are out of QEMU's bounds there.
   */
  void resetTableFields(byte[] onDisk) {
    Fields f = Fields.decode(onDisk);
    if (f.l1Size() >= 0 && f.l1Size() <= MAX_L1_BYTES / 8 && f.refcountTableClusters() > 0
        && f.refcountTableClusters() <= MAX_REFTABLE_BYTES >>> clusterBits) {
      size = f.size();
      l1Size = f.l1Size();
      l1Offset = f.l1Offset();
      refcountTableOffset = f.refcountTableOffset();
      refcountTableClusters = f.refcountTableClusters();
    }
  }
}

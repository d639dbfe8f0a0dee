package io.qcow2.format;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Checks a qcow2 image's metadata the way {@code qemu-img check} does: walks every table of the
 * active state and of every internal snapshot, counts the references to each host cluster, and
 * compares the counts with the stored refcounts. {@link #run} only reads the image; {@link
 * #repair} fixes what {@code qemu-img check -r} fixes.
 *
 * <p>The result has the same counts and exit status as {@code qemu-img check} on the images we
 * test; messages use QEMU's wording ({@code "ERROR cluster 5 refcount=1 reference=2"}).
 */
public final class ImageCheck {
  /** Messages kept in a {@link CheckResult} by default. */
  public static final int DEFAULT_MAX_MESSAGES = 100;

  /*
   * Follows QEMU 7.2's qcow2_check_refcounts() (block/qcow2-refcount.c): calculate_refcounts()
   * builds the reference counts (header, active L1 and its L2 tables and data, each snapshot's L1,
   * L2 and data, snapshot table, refcount table, bitmaps, refcount blocks), compare_refcounts()
   * compares them with the stored ones, check_oflag_copied() checks the COPIED flags of the active
   * tables against the stored refcounts. Like QEMU, reads beyond the end of the file return zeros,
   * references one cluster or more past the end of the file are corruptions and not counted, and
   * the reference array grows past the end only for the partial cluster there.
   *
   * Everything read from the file is hostile: tables are read only as far as the file extends (the
   * rest is zeros and never allocated), counts are bounded before use, and the reference array is
   * sized from the file length, not from any field.
   */

  /*
   * QEMU's limits and table-entry bits, taken from the engine's layout definitions (Header,
   * Snapshot, Qcow2Image) so that check and the engine cannot drift apart; only what check alone
   * uses is defined here.
   */
  static final long MAX_L1_BYTES = Header.MAX_L1_BYTES;
  static final long MAX_REFTABLE_BYTES = Header.MAX_REFTABLE_BYTES;
  static final int MAX_SNAPSHOTS = Header.MAX_SNAPSHOTS;
  static final long MAX_SNAPSHOTS_BYTES = Snapshot.MAX_TABLE_BYTES;
  static final int MAX_SNAPSHOT_EXTRA_DATA = Snapshot.MAX_EXTRA_DATA;
  static final int MAX_BITMAPS = Header.MAX_BITMAPS;
  static final long MAX_BITMAP_DIRECTORY_BYTES = Header.MAX_BITMAP_DIRECTORY;
  /** Largest bitmap table in bytes ({@code BME_MAX_TABLE_SIZE} entries of 8 bytes). */
  static final long MAX_BITMAP_TABLE_BYTES = 0x8000000L * 8;
  /**
   * Clusters past the end of the file the reference array may grow to: references one cluster or
   * more past the end are refused, so a reference can reach at most into the cluster after the last.
   */
  static final long MAX_CLUSTERS_BEYOND_END = 2;
  /** Largest file whose clusters we count in one array. */
  static final long MAX_FILE_CLUSTERS = 1L << 28;

  static final long L1E_OFFSET_MASK = Qcow2Image.L1_OFFSET_MASK;
  static final long L1E_RESERVED_MASK = 0x7f00_0000_0000_01ffL;
  static final long L2E_OFFSET_MASK = Qcow2Image.L2_OFFSET_MASK;
  static final long L2E_STD_RESERVED_MASK = 0x3f00_0000_0000_01feL;
  static final long REFT_OFFSET_MASK = MetadataView.REFCOUNT_TABLE_OFFSET_MASK;
  static final long REFT_RESERVED_MASK = 0x1ffL;
  static final long OFLAG_COPIED = Qcow2Image.COPIED;
  static final long OFLAG_COMPRESSED = Qcow2Image.COMPRESSED;
  static final long OFLAG_ZERO = Qcow2Image.ZERO_FLAG;
  static final long BME_TABLE_ENTRY_OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;
  static final long BME_TABLE_ENTRY_RESERVED_MASK = 0xff00_0000_0000_01feL;
  /** {@code BME_MAX_PHYS_SIZE}: 512 MiB of bitmap data. */
  static final long MAX_BITMAP_PHYSICAL_BYTES = 0x2000_0000L;

  static final int QCOW_MAGIC = Header.MAGIC;
  static final long INCOMPAT_DIRTY = Header.INCOMPAT_DIRTY;
  static final long INCOMPAT_CORRUPT = Header.INCOMPAT_CORRUPT;
  static final long INCOMPAT_DATA_FILE = Header.INCOMPAT_DATA_FILE;
  static final long INCOMPAT_COMPRESSION = Header.INCOMPAT_COMPRESSION;
  static final long INCOMPAT_EXTL2 = Header.INCOMPAT_EXTL2;
  static final long AUTOCLEAR_BITMAPS = Header.AUTOCLEAR_BITMAPS;
  static final long AUTOCLEAR_DATA_FILE_RAW = 2;
  static final int EXT_BITMAPS = HeaderExtension.BITMAPS;

  private ImageCheck() {}

  /**
   * Checks the image at {@code image}, keeping the first {@link #DEFAULT_MAX_MESSAGES} messages.
   *
   * @throws CorruptImageException if the header is so broken that the image cannot be opened
   * @throws UnsupportedFeatureException if the image uses a feature this engine lacks
   * @throws IOException if the file cannot be read
   */
  public static CheckResult run(Path image) throws IOException {
    return run(image, DEFAULT_MAX_MESSAGES);
  }

  /**
   * Checks the image at {@code image}, keeping the first {@code maxMessages} messages.
   *
   * @throws IllegalArgumentException if {@code maxMessages} is negative
   * @throws CorruptImageException if the header is so broken that the image cannot be opened
   * @throws UnsupportedFeatureException if the image uses a feature this engine lacks
   * @throws IOException if the file cannot be read
   */
  public static CheckResult run(Path image, int maxMessages) throws IOException {
    return walk(image, maxMessages, false).result;
  }

  /**
   * Repairs the image at {@code image} as {@code qemu-img check -r leaks|all} does: one check that
   * repairs what {@code mode} allows (freeing leaked clusters, fixing refcounts and {@code
   * OFLAG_COPIED} flags, rebuilding the refcount structure when a referenced cluster has refcount 0
   * or a refcount block is broken), then, if anything was repaired, a second check of the result.
   * The corrupt and dirty bits are cleared when the repairing check leaves no corruption and no
   * check error. Every write is first checked against the metadata the check found (the checks
   * of QEMU's default overlap-check mode {@code cached}); a write that would hit other metadata is
   * not done and ends the repair with a failure.
   *
   * <p>The image must not be open elsewhere (in this process or another) while it is repaired.
   *
   * @throws IllegalArgumentException if {@code maxMessages} is negative
   * @throws CorruptImageException if the header is so broken that the image cannot be opened
   * @throws UnsupportedFeatureException if the image uses a feature this engine lacks
   * @throws IOException if the file cannot be read or written
   */
  public static RepairResult repair(Path image, RepairMode mode, int maxMessages)
      throws IOException {
    Objects.requireNonNull(image, "image");
    Objects.requireNonNull(mode, "mode");
    if (maxMessages < 0) {
      throw new IllegalArgumentException("maxMessages must be >= 0: " + maxMessages);
    }
    Qcow2Image.checkRegularFile(image); // as the check after it: nothing is opened for writing
    Checker checker;
    CheckResult repairPass;
    try (FileChannel channel =
        FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      checker = new Checker(channel, maxMessages, true, mode);
      repairPass = checker.run();
      channel.force(true);
    }
    RepairResult pass = new RepairResult(repairPass, checker.leaksFixed,
        checker.corruptionsFixed, repairPass, checker.failure);
    if (checker.failure != null || !pass.repairedAnything()) {
      return pass;
    }
    return new RepairResult(repairPass, checker.leaksFixed, checker.corruptionsFixed,
        run(image, maxMessages), null);
  }

  /** A finished check: the result and, when asked for, the metadata type mask of every cluster. */
  static final class Walk {
    final CheckResult result;
    final int clusterBits;
    final long fileLength;
    /** Mask of {@link MetadataType}s per cluster of the file; null unless asked for. */
    final short[] types;

    Walk(CheckResult result, int clusterBits, long fileLength, short[] types) {
      this.result = result;
      this.clusterBits = clusterBits;
      this.fileLength = fileLength;
      this.types = types;
    }
  }

  /**
   * Runs the check and, if {@code trackTypes}, records which metadata structures occupy each
   * cluster of the file: the structures an overlap check with mode {@code all} protects.
   */
  static Walk walk(Path image, int maxMessages, boolean trackTypes) throws IOException {
    Objects.requireNonNull(image, "image");
    if (maxMessages < 0) {
      throw new IllegalArgumentException("maxMessages must be >= 0: " + maxMessages);
    }
    Qcow2Image.checkRegularFile(image);
    try (FileChannel channel = FileChannel.open(image, StandardOpenOption.READ)) {
      Checker checker = new Checker(channel, maxMessages, trackTypes, null);
      CheckResult result = checker.run();
      return new Walk(result, checker.clusterBits, checker.fileLength, checker.types);
    }
  }

  /** The state of one check: the header fields, the tables read, the counts. */
  private static final class Checker {
    private final FileChannel file;
    private long fileLength;
    private final int maxMessages;
    private final boolean trackTypes;
    /** What this check may repair; null for a read-only check. */
    private final RepairMode fix;
    private final List<String> messages = new ArrayList<>();
    private long messageCount;

    private int version;
    private int clusterBits;
    private long clusterSize;
    private int refcountOrder;
    private long refcountMax;
    private long virtualSize;
    private long l1Offset;
    private int l1Size;
    private long refcountTableOffset;
    private int refcountTableSize;
    private long snapshotsOffset;
    private int snapshotCount;
    private long snapshotsSize;
    private final List<SnapshotEntry> snapshots = new ArrayList<>();
    private long bitmapDirectoryOffset;
    private long bitmapDirectorySize;
    private int bitmapCount;
    private long incompatibleFeatures;

    private long[] refcountTable;
    private long[] activeL1;

    private long fileClusters;
    private ReferenceCounts references;
    /** References to clusters past the end of the file, from {@code fileClusters}; grows. */
    private int[] referencesBeyondEnd = new int[0];
    private long nbClusters;
    private boolean walkFailed;
    private short[] types;

    private long corruptions;
    private long leaks;
    private long checkErrors;
    private long allocatedClusters;
    private long fragmentedClusters;
    private long compressedClusters;
    private long leaksFixed;
    private long corruptionsFixed;
    /** The stored refcounts cannot be fixed one by one: the refcount structure must be rebuilt. */
    private boolean rebuild;
    /** Why a repair stopped (qemu-img's "Check failed: ..." reason), or null. */
    private String failure;

    /** The buffers of {@link #readL2}. */
    private long[] l2Entries;
    private ByteBuffer l2Bytes;

    // One-block cache for stored refcount lookups.
    private long cachedBlockOffset = -1;
    private byte[] cachedBlock;

    Checker(FileChannel file, int maxMessages, boolean trackTypes, RepairMode fix)
        throws IOException {
      this.file = file;
      this.fileLength = file.size();
      this.maxMessages = maxMessages;
      this.trackTypes = trackTypes || fix != null;
      this.fix = fix;
    }

    CheckResult run() throws IOException {
      readHeader();
      startCounting();
      calculateReferences(fix);
      long highestCluster = -1;
      if (!walkFailed) {
        highestCluster = fix == null ? compareRefcounts(null) : compareAndRepair();
      }
      if (!walkFailed && failure == null) {
        checkOflagCopied();
      }
      if (fix != null && failure == null && !walkFailed && checkErrors == 0 && corruptions == 0) {
        markClean();
      }
      long totalClusters = (diskLength() + clusterSize - 1) >>> clusterBits;
      long imageEnd = walkFailed ? 0 : (Math.max(highestCluster, 0) + 1) << clusterBits;
      return new CheckResult(corruptions, leaks, checkErrors, messages, messageCount, imageEnd,
          allocatedClusters, totalClusters, fragmentedClusters, compressedClusters);
    }

    /** Empty reference counts for the file as it is now. */
    private void startCounting() throws IOException {
      fileLength = file.size();
      fileClusters = (fileLength + clusterSize - 1) >>> clusterBits;
      if (fileClusters > MAX_FILE_CLUSTERS) {
        throw new UnsupportedFeatureException(String.format(
            "Image file of %d clusters is too large to check (at most %d)",
            fileClusters, MAX_FILE_CLUSTERS));
      }
      references = new ReferenceCounts(fileClusters);
      referencesBeyondEnd = new int[0];
      types = trackTypes ? new short[(int) fileClusters] : null;
      nbClusters = fileClusters;
      snapshots.clear();
      allocatedClusters = 0;
      fragmentedClusters = 0;
      compressedClusters = 0;
    }

    /**
     * The repairing half of QEMU's qcow2_check_refcounts(): compares, then fixes refcounts one by
     * one or rebuilds the whole refcount structure. Returns the highest cluster in use.
     */
    private long compareAndRepair() throws IOException {
      long[] beforeCompare = counts();
      long highest = compareRefcounts(null);
      if (rebuild && fix == RepairMode.ALL) {
        long[] beforeRebuild = counts();
        addMessage("Rebuilding refcount structure");
        if (!rebuildRefcountStructure()) {
          return highest;
        }
        corruptions = 0;
        leaks = 0;
        // The old refcount structure is now leaked: count again and free it.
        rebuild = false;
        startCounting();
        calculateReferences(null);
        if (walkFailed) {
          return -1;
        }
        // What this pass fixes is the old structure, not what the image had: QEMU does not count
        // it as fixed, only what it could not free as leaks.
        long[] saved = counts();
        long savedLeaksFixed = leaksFixed;
        long savedCorruptionsFixed = corruptionsFixed;
        corruptions = 0;
        leaks = 0;
        highest = compareRefcounts(RepairMode.LEAKS);
        if (rebuild) {
          addMessage("ERROR rebuilt refcount structure is still broken");
        }
        long freshLeaks = leaks;
        restore(saved);
        leaksFixed = savedLeaksFixed;
        corruptionsFixed = savedCorruptionsFixed;
        if (corruptions < beforeRebuild[0]) {
          corruptionsFixed += beforeRebuild[0] - corruptions;
        }
        if (leaks < beforeRebuild[1]) {
          leaksFixed += beforeRebuild[1] - leaks;
        }
        leaks += freshLeaks;
      } else if (rebuild) {
        addMessage("ERROR need to rebuild refcount structures");
        checkErrors++;
        failure = "Input/output error";
      } else if (leaks > 0 || corruptions > 0) {
        restore(beforeCompare);
        highest = compareRefcounts(fix);
      }
      return highest;
    }

    private long[] counts() {
      return new long[] {corruptions, leaks, checkErrors};
    }

    private void restore(long[] counts) {
      corruptions = counts[0];
      leaks = counts[1];
      checkErrors = counts[2];
    }

    /** qcow2_mark_clean() and qcow2_mark_consistent(): clears the dirty and corrupt bits. */
    private void markClean() throws IOException {
      long cleared = incompatibleFeatures & ~(INCOMPAT_DIRTY | INCOMPAT_CORRUPT);
      if (version < 3 || cleared == incompatibleFeatures) {
        return;
      }
      ByteBuffer field = ByteBuffer.allocate(8).putLong(0, cleared);
      writeFully(field, 72);
      incompatibleFeatures = cleared;
    }

    // ---------------------------------------------------------------------------------------
    // Header (QEMU's qcow2_do_open checks, as far as a check needs them)

    private void readHeader() throws IOException {
      ByteBuffer h = read(0, 104);
      if (h.getInt(0) != QCOW_MAGIC) {
        throw new CorruptImageException("Image is not in qcow2 format");
      }
      version = h.getInt(4);
      if (version != 2 && version != 3) {
        throw new UnsupportedFeatureException("Unsupported qcow2 version " + version);
      }
      long backingFileOffset = h.getLong(8);
      long backingFileSize = Integer.toUnsignedLong(h.getInt(16));
      clusterBits = h.getInt(20);
      if (clusterBits < 9 || clusterBits > 21) {
        throw new CorruptImageException(
            "Unsupported cluster size: 2^" + Integer.toUnsignedString(clusterBits));
      }
      clusterSize = 1L << clusterBits;
      virtualSize = h.getLong(24);
      int cryptMethod = h.getInt(32);
      l1Size = h.getInt(36);
      l1Offset = h.getLong(40);
      refcountTableOffset = h.getLong(48);
      long refcountTableClusters = Integer.toUnsignedLong(h.getInt(56));
      long snapshots = Integer.toUnsignedLong(h.getInt(60));
      snapshotsOffset = h.getLong(64);

      long headerLength = 72;
      long incompatible = 0;
      long autoclear = 0;
      refcountOrder = 4;
      if (version == 3) {
        incompatible = h.getLong(72);
        incompatibleFeatures = incompatible;
        autoclear = h.getLong(88);
        refcountOrder = h.getInt(96);
        headerLength = Integer.toUnsignedLong(h.getInt(100));
        if (headerLength < 104) {
          throw new CorruptImageException("qcow2 header too short");
        }
        if (headerLength > clusterSize) {
          throw new CorruptImageException("qcow2 header exceeds cluster size");
        }
      }
      long unknown = incompatible
          & ~(INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION
              | INCOMPAT_EXTL2);
      if (unknown != 0) {
        throw new UnsupportedFeatureException(String.format(
            "Unsupported qcow2 feature(s): incompatible bits 0x%x", unknown));
      }
      if ((incompatible & INCOMPAT_DATA_FILE) != 0) {
        throw new UnsupportedFeatureException("Unsupported qcow2 feature(s): external data file");
      }
      if ((incompatible & INCOMPAT_EXTL2) != 0) {
        throw new UnsupportedFeatureException("Unsupported qcow2 feature(s): extended L2 entries");
      }
      // validate_compression_type(): zlib (0) or zstd (1), the bit set exactly when not zlib.
      int compressionType = headerLength > 104 ? read(104, 1).get(0) & 0xff : 0;
      if (compressionType > 1) {
        throw new UnsupportedFeatureException(
            "qcow2: unknown compression type: " + compressionType);
      }
      if ((compressionType == 0) == ((incompatible & INCOMPAT_COMPRESSION) != 0)) {
        throw new CorruptImageException("qcow2: Compression type incompatible feature bit must "
            + (compressionType == 0 ? "not " : "") + "be set");
      }
      if (refcountOrder < 0 || refcountOrder > 6) {
        throw new CorruptImageException(
            "Reference count entry width too large; may not exceed 64 bits");
      }
      refcountMax = refcountOrder == 6 ? -1L : (1L << (1 << refcountOrder)) - 1;
      if (cryptMethod != 0) {
        throw new UnsupportedFeatureException("Unsupported qcow2 feature(s): encryption");
      }
      if (virtualSize < 0) {
        throw new CorruptImageException("Image is too big");
      }

      // Refcount table (qcow2_validate_table).
      if (refcountTableClusters > MAX_REFTABLE_BYTES >>> clusterBits) {
        throw new CorruptImageException("Reference count table too large");
      }
      // No refcount table is allowed when checking (QEMU opens with BDRV_O_CHECK): every
      // referenced cluster then shows as refcount 0.
      checkTable(refcountTableOffset, refcountTableClusters << clusterBits,
          "Reference count table");
      refcountTableSize = (int) ((refcountTableClusters << clusterBits) / 8);
      refcountTable = readTable(refcountTableOffset, refcountTableSize);

      // Snapshot table location; the entries are read later, as QEMU's check does.
      if (snapshots > MAX_SNAPSHOTS) {
        throw new CorruptImageException("Too many snapshots");
      }
      snapshotCount = (int) snapshots;
      checkTable(snapshotsOffset, snapshots * 40, "Snapshot table");

      // Active L1 table.
      long l1Entries = Integer.toUnsignedLong(l1Size);
      if (l1Entries > MAX_L1_BYTES / 8) {
        throw new CorruptImageException("Active L1 table too large");
      }
      long l2Bits = clusterBits - 3;
      long guestBytesPerL1Entry = 1L << (clusterBits + l2Bits);
      long l1Needed = virtualSize / guestBytesPerL1Entry
          + (virtualSize % guestBytesPerL1Entry == 0 ? 0 : 1);
      if (l1Needed > Integer.MAX_VALUE) {
        throw new CorruptImageException("Image is too big");
      }
      if (l1Entries < l1Needed) {
        throw new CorruptImageException("L1 table is too small");
      }
      checkTable(l1Offset, l1Entries * 8, "Active L1 table");
      activeL1 = readTable(l1Offset, (int) l1Entries);

      if (backingFileOffset != 0
          && (backingFileSize > 1023 || Long.compareUnsigned(backingFileOffset, clusterSize) > 0)) {
        throw new CorruptImageException("Backing file name too long");
      }
      readExtensions(headerLength, backingFileOffset, autoclear);
      if (bitmapCount > 0) {
        loadBitmaps();
      }
    }

    private void checkTable(long offset, long bytes, String name) throws CorruptImageException {
      if (Long.MAX_VALUE - bytes < offset || offset < 0) {
        throw new CorruptImageException(name + " exceeds the maximum supported size");
      }
      if ((offset & (clusterSize - 1)) != 0) {
        throw new CorruptImageException(name + " offset invalid");
      }
    }

    /** Header extensions, for the bitmap directory (qcow2_read_extensions). */
    private void readExtensions(long start, long backingFileOffset, long autoclear)
        throws IOException {
      // Unsigned, as QEMU compares them.
      long end = backingFileOffset != 0 ? backingFileOffset : clusterSize;
      long offset = start;
      while (Long.compareUnsigned(offset, end) < 0) {
        ByteBuffer e = read(offset, 8);
        int type = e.getInt(0);
        long length = Integer.toUnsignedLong(e.getInt(4));
        offset += 8;
        if (Long.compareUnsigned(offset, end) > 0 || length > end - offset) {
          throw new CorruptImageException("Header extension too large");
        }
        if (type == 0) {
          break;
        }
        if (type == EXT_BITMAPS) {
          readBitmapsExtension(offset, length, autoclear);
        }
        offset += (length + 7) & ~7L;
      }
      if ((autoclear & AUTOCLEAR_DATA_FILE_RAW) != 0) {
        // Data files are refused above, so the bit can only be wrong.
        throw new CorruptImageException("data-file-raw requires a data file");
      }
    }

    private void readBitmapsExtension(long offset, long length, long autoclear)
        throws IOException {
      if (length != 24) {
        throw new CorruptImageException("bitmaps_ext: Invalid extension length");
      }
      if ((autoclear & AUTOCLEAR_BITMAPS) == 0) {
        return; // a program without bitmap support touched the image: bitmaps are ignored
      }
      ByteBuffer b = read(offset, 24);
      long count = Integer.toUnsignedLong(b.getInt(0));
      long reserved = Integer.toUnsignedLong(b.getInt(4));
      bitmapDirectorySize = b.getLong(8);
      bitmapDirectoryOffset = b.getLong(16);
      if (reserved != 0) {
        throw new CorruptImageException("bitmaps_ext: Reserved field is not zero");
      }
      if (count > MAX_BITMAPS) {
        throw new CorruptImageException("bitmaps_ext: Image has " + count
            + " bitmaps, exceeding the QEMU supported maximum of " + MAX_BITMAPS);
      }
      if (count == 0) {
        throw new CorruptImageException("found bitmaps extension with zero bitmaps");
      }
      if ((bitmapDirectoryOffset & (clusterSize - 1)) != 0) {
        throw new CorruptImageException("bitmaps_ext: invalid bitmap directory offset");
      }
      if (Long.compareUnsigned(bitmapDirectorySize, MAX_BITMAP_DIRECTORY_BYTES) > 0) {
        throw new CorruptImageException("bitmaps_ext: bitmap directory size ("
            + Long.toUnsignedString(bitmapDirectorySize) + ") exceeds the maximum supported size ("
            + MAX_BITMAP_DIRECTORY_BYTES + ")");
      }
      bitmapCount = (int) count;
    }

    // ---------------------------------------------------------------------------------------
    // Reference counting (calculate_refcounts)

    /** calculate_refcounts(); {@code repairing} is what it may fix on the way, or null. */
    private void calculateReferences(RepairMode repairing) throws IOException {
      increment(0, clusterSize, MetadataType.MAIN_HEADER);
      markTypes(l1Offset, (long) l1Size * 8, MetadataType.ACTIVE_L1);
      checkL1(l1Offset, activeL1, Integer.toUnsignedLong(l1Size), true, repairing);

      readSnapshots();
      for (SnapshotEntry snapshot : snapshots) {
        if (walkFailed) {
          return;
        }
        if ((snapshot.l1Offset & (clusterSize - 1)) != 0) {
          corruption("ERROR snapshot %s (%s) l1_offset=%#x: L1 table is not cluster "
              + "aligned; snapshot table entry corrupted", snapshot.id, snapshot.name,
              snapshot.l1Offset);
          continue;
        }
        if (snapshot.l1Size > MAX_L1_BYTES / 8) {
          corruption("ERROR snapshot %s (%s) l1_size=%#x: L1 table is too large; "
              + "snapshot table entry corrupted", snapshot.id, snapshot.name, snapshot.l1Size);
          continue;
        }
        markTypes(snapshot.l1Offset, snapshot.l1Size * 8, MetadataType.INACTIVE_L1);
        long[] l1 = readTable(snapshot.l1Offset, (int) snapshot.l1Size);
        checkL1(snapshot.l1Offset, l1, snapshot.l1Size, false, repairing);
      }
      if (walkFailed) {
        return;
      }
      increment(snapshotsOffset, snapshotsSize, MetadataType.SNAPSHOT_TABLE);
      increment(refcountTableOffset, (long) refcountTableSize * 8, MetadataType.REFCOUNT_TABLE);
      checkBitmaps();
      if (!walkFailed) {
        checkRefcountBlocks(repairing);
      }
    }

    /** check_refcounts_l1: the table itself was marked by the caller for its type. */
    private void checkL1(long offset, long[] l1, long entries, boolean active,
        RepairMode repairing) throws IOException {
      increment(offset, entries * 8, null);
      for (int i = 0; i < l1.length && !walkFailed; i++) {
        long entry = l1[i];
        if (entry == 0) {
          continue;
        }
        if ((entry & L1E_RESERVED_MASK) != 0) {
          corruption("ERROR found L1 entry with reserved bits set: %x", entry);
        }
        long l2Offset = entry & L1E_OFFSET_MASK;
        // With only flag bits set QEMU still counts an "L2 table" at offset 0, the header cluster;
        // its overlap check skips it.
        increment(l2Offset, clusterSize, l2Offset == 0 ? null
            : active ? MetadataType.ACTIVE_L2 : MetadataType.INACTIVE_L2);
        if ((l2Offset & (clusterSize - 1)) != 0) {
          corruption(
              "ERROR l2_offset=%x: Table is not cluster aligned; L1 entry corrupted", l2Offset);
        }
        checkL2(l2Offset, active, repairing);
      }
    }

    /**
     * check_refcounts_l2: reserved bits, alignment, references to data and compressed clusters,
     * and for the active table the allocated, compressed and fragmented counts.
     */
    private void checkL2(long l2Offset, boolean active, RepairMode repairing) throws IOException {
      int entries = (int) (clusterSize / 8);
      long[] l2 = readL2(l2Offset, entries);
      // Where the next data cluster must be to be contiguous; QEMU 7.2 restarts for every table.
      long nextContiguous = 0;
      for (int i = 0; i < l2.length && !walkFailed; i++) {
        long entry = l2[i];
        if ((entry & OFLAG_COMPRESSED) == 0 && (entry & L2E_STD_RESERVED_MASK) != 0) {
          corruption("ERROR found l2 entry with reserved bits set: %x", entry);
        }
        if ((entry & OFLAG_COMPRESSED) != 0) {
          if ((entry & OFLAG_COPIED) != 0) {
            corruption("ERROR: coffset=0x%x: copied flag must never be set for "
                + "compressed clusters", CompressedDescriptor.hostOffset(entry, clusterBits));
            entry &= ~OFLAG_COPIED;
          }
          long coffset = CompressedDescriptor.hostOffset(entry, clusterBits);
          increment(coffset, CompressedDescriptor.compressedBytes(entry, clusterBits), null);
          if (active) {
            allocatedClusters++;
            compressedClusters++;
            fragmentedClusters++;
          }
        } else if ((entry & L2E_OFFSET_MASK) != 0) {
          // QCOW2_CLUSTER_NORMAL or QCOW2_CLUSTER_ZERO_ALLOC
          long offset = entry & L2E_OFFSET_MASK;
          if ((offset & (clusterSize - 1)) != 0) {
            if ((entry & OFLAG_ZERO) != 0 && repairing == RepairMode.ALL) {
              // A preallocated zero cluster holds no data: it becomes a plain zero cluster.
              addMessage("Repairing offset=%x: Preallocated cluster is not properly "
                  + "aligned; L2 entry corrupted.", offset);
              long entryOffset = l2Offset + 8L * i;
              int ignored = (active ? MetadataType.ACTIVE_L2 : MetadataType.INACTIVE_L2).mask();
              if (!overlapFree(entryOffset, 8, ignored)) {
                addMessage("ERROR: Overlap check failed");
                checkErrors++;
                corruptions++;
                failure = "Input/output error";
                walkFailed = true;
                return;
              }
              writeFully(ByteBuffer.allocate(8).putLong(0, OFLAG_ZERO), entryOffset);
              corruptionsFixed++;
              continue;
            }
            if ((entry & OFLAG_ZERO) != 0) {
              corruption("ERROR offset=%x: Preallocated cluster is not properly "
                  + "aligned; L2 entry corrupted.", offset);
            } else {
              corruption("ERROR offset=%x: Data cluster is not properly aligned; "
                  + "L2 entry corrupted.", offset);
            }
          }
          if (active) {
            allocatedClusters++;
            if (nextContiguous != 0 && offset != nextContiguous) {
              fragmentedClusters++;
            }
            nextContiguous = offset + clusterSize;
          }
          increment(offset, clusterSize, null);
        }
      }
    }

    /** A bitmap directory entry, validated as QEMU's check_dir_entry() does. */
    private record Bitmap(String name, long tableOffset, long tableSize) {}

    private final List<Bitmap> bitmaps = new ArrayList<>();

    /**
     * bitmap_list_load() and the loading of each bitmap that is not in use, as QEMU does when it
     * opens the image: any failure makes the image unopenable.
     */
    private void loadBitmaps() throws IOException {
      if (bitmapDirectorySize == 0) {
        throw new CorruptImageException("Requested bitmap directory size is zero");
      }
      long position = 0;
      int found = 0;
      while (position < bitmapDirectorySize) {
        if (position + 24 > bitmapDirectorySize) {
          throw new CorruptImageException("Broken bitmap directory");
        }
        if (++found > bitmapCount) {
          throw new CorruptImageException(
              "More bitmaps found than specified in header extension");
        }
        ByteBuffer e = read(bitmapDirectoryOffset + position, 24);
        long tableOffset = e.getLong(0);
        long tableSize = Integer.toUnsignedLong(e.getInt(8));
        int flags = e.getInt(12);
        int type = e.get(16) & 0xff;
        int granularityBits = e.get(17) & 0xff;
        int nameSize = Short.toUnsignedInt(e.getShort(18));
        long extraSize = Integer.toUnsignedLong(e.getInt(20));
        long next = position + ((24 + extraSize + nameSize + 7) & ~7L);
        if (next > bitmapDirectorySize) {
          throw new CorruptImageException("Broken bitmap directory");
        }
        if (extraSize != 0) {
          throw new CorruptImageException("Bitmap extra data is not supported");
        }
        String name = new String(bytes(read(bitmapDirectoryOffset + position + 24, nameSize)),
            StandardCharsets.UTF_8);
        long physicalBytes = tableSize * clusterSize;
        boolean inUse = (flags & 1) != 0;
        if (tableSize == 0 || tableOffset == 0 || (tableOffset & (clusterSize - 1)) != 0
            || tableSize > MAX_BITMAP_TABLE_BYTES / 8 || granularityBits > 31
            || granularityBits < 9 || (flags & ~3) != 0 || nameSize > 1023 || type != 1
            || physicalBytes > MAX_BITMAP_PHYSICAL_BYTES
            || (!inUse && diskLength() > ((physicalBytes * 8) << granularityBits))) {
          throw new CorruptImageException(
              "Bitmap '" + name + "' doesn't satisfy the constraints");
        }
        if (!inUse) {
          // load_bitmap(): the table must have exactly the clusters the bitmap needs.
          long bits = ceilDiv(diskLength(), 1L << granularityBits);
          long needed = ceilDiv(ceilDiv(bits, 8), clusterSize);
          boolean valid = needed == tableSize;
          for (long entry : valid ? readTable(tableOffset, (int) tableSize) : new long[0]) {
            valid &= validBitmapTableEntry(entry);
          }
          if (!valid) {
            throw new CorruptImageException(
                "Could not read bitmap '" + name + "' from image: Invalid argument");
          }
        }
        bitmaps.add(new Bitmap(name, tableOffset, tableSize));
        position = next;
      }
      if (found != bitmapCount) {
        throw new CorruptImageException("Less bitmaps found than specified in header extension");
      }
    }

    /** check_table_entry() of block/qcow2-bitmap.c. */
    private boolean validBitmapTableEntry(long entry) {
      long offset = entry & BME_TABLE_ENTRY_OFFSET_MASK;
      if ((entry & BME_TABLE_ENTRY_RESERVED_MASK) != 0) {
        return false;
      }
      return offset == 0 || ((entry & 1) == 0 && (offset & (clusterSize - 1)) == 0);
    }

    /** QEMU's bdrv_getlength() of the image: the virtual size in whole 512-byte sectors. */
    private long diskLength() {
      return virtualSize & ~511L;
    }

    private static long ceilDiv(long a, long b) {
      return a / b + (a % b == 0 ? 0 : 1);
    }

    /** qcow2_check_bitmaps_refcounts(): the directory, each bitmap table and its data clusters. */
    private void checkBitmaps() throws IOException {
      if (bitmaps.isEmpty()) {
        return;
      }
      increment(bitmapDirectoryOffset, bitmapDirectorySize, MetadataType.BITMAP_DIRECTORY);
      for (int i = 0; i < bitmaps.size() && !walkFailed; i++) {
        Bitmap bitmap = bitmaps.get(i);
        increment(bitmap.tableOffset, bitmap.tableSize * 8, MetadataType.BITMAP_TABLE);
        long[] table = readTable(bitmap.tableOffset, (int) bitmap.tableSize);
        for (long entry : table) {
          if (!validBitmapTableEntry(entry)) {
            corruption("ERROR bitmap '%s' table entry 0x%x is invalid",
                bitmap.name, entry);
            continue;
          }
          long offset = entry & BME_TABLE_ENTRY_OFFSET_MASK;
          if (offset != 0) {
            increment(offset, clusterSize, MetadataType.BITMAP_DATA);
          }
        }
      }
    }

    /** check_refblocks; {@code repairing} is what it may fix, or null. */
    private void checkRefcountBlocks(RepairMode repairing) throws IOException {
      for (int i = 0; i < refcountTableSize; i++) {
        long entry = refcountTableEntry(i);
        long offset = entry & REFT_OFFSET_MASK;
        if ((entry & REFT_RESERVED_MASK) != 0) {
          corruption("ERROR refcount table entry %d has reserved bits set", i);
          rebuild = true;
          continue;
        }
        if ((offset & (clusterSize - 1)) != 0) {
          corruption(
              "ERROR refcount block %d is not cluster aligned; refcount table entry corrupted", i);
          rebuild = true;
          continue;
        }
        long cluster = offset >>> clusterBits;
        if (cluster >= nbClusters) {
          if (repairing != RepairMode.ALL) {
            corruption("ERROR refcount block %d is outside image", i);
            continue;
          }
          // QEMU grows the file to hold the block: a block of zeros, found wrong by the compare.
          addMessage("Repairing refcount block %d is outside image", i);
          if (offset > Long.MAX_VALUE - clusterSize || !growFile(offset + clusterSize)) {
            corruptions++;
            rebuild = true;
            addMessage("ERROR could not resize image: Invalid argument");
            continue;
          }
          corruptionsFixed++;
          increment(offset, clusterSize, MetadataType.REFCOUNT_BLOCK);
          continue;
        }
        if (offset != 0) {
          increment(offset, clusterSize, MetadataType.REFCOUNT_BLOCK);
          long count = computed(cluster);
          if (count != 1) {
            corruption("ERROR refcount block %d refcount=%d", i, count);
            rebuild = true;
          }
        }
      }
    }

    /**
     * qcow2_inc_refcounts_imrt: one more reference to every cluster touched by {@code [offset,
     * offset + length)}; marks them as {@code type} when that is not null.
     */
    private void increment(long offset, long length, MetadataType type) {
      if (length <= 0 || walkFailed) {
        return;
      }
      if (offset < 0) {
        // Past 2^63 QEMU's signed end-of-file test passes and its array growth fails: ENOMEM
        // ends the whole check.
        addMessage("ERROR reference to offset 0x%x: Check failed: Cannot allocate "
            + "memory", offset);
        checkErrors++;
        walkFailed = true;
        return;
      }
      // QEMU 7.2 refuses to count references one cluster or more past the end of the file, whose
      // length it knows in whole sectors (bdrv_getlength() rounds up to 512 bytes).
      if (offset + length - ((fileLength + 511) & ~511L) >= clusterSize) {
        corruption("ERROR: counting reference for region exceeding the end of the "
            + "file by one cluster or more: offset 0x%x size 0x%x", offset, length);
        return;
      }
      long first = offset >>> clusterBits;
      long last = (offset + length - 1) >>> clusterBits;
      for (long cluster = first; cluster <= last; cluster++) {
        long count = computed(cluster);
        if (count == refcountMax && refcountMax != -1L) {
          corruption("ERROR: overflow cluster offset=0x%x", cluster << clusterBits);
          addMessage("Use qemu-img amend to increase the refcount entry width or qemu-img convert "
              + "to create a clean copy if the image cannot be opened for writing");
          continue;
        }
        if (cluster < fileClusters) {
          references.increment(cluster);
          if (type != null && types != null) {
            types[(int) cluster] |= (short) type.mask();
          }
        } else {
          int index = (int) (cluster - fileClusters);
          if (index >= referencesBeyondEnd.length) {
            referencesBeyondEnd = Arrays.copyOf(referencesBeyondEnd,
                (int) Math.min(MAX_CLUSTERS_BEYOND_END, Math.max(index + 1L, index * 2L)));
          }
          referencesBeyondEnd[index]++;
          nbClusters = Math.max(nbClusters, cluster + 1);
        }
      }
    }

    /** Marks the file's clusters in {@code [offset, offset + length)} as {@code type}. */
    private void markTypes(long offset, long length, MetadataType type) {
      if (types == null || length <= 0 || offset < 0) {
        return;
      }
      long first = offset >>> clusterBits;
      long last = Math.min((offset + length - 1) >>> clusterBits, fileClusters - 1);
      for (long cluster = first; cluster <= last; cluster++) {
        types[(int) cluster] |= (short) type.mask();
      }
    }

    private long computed(long cluster) {
      if (cluster < fileClusters) {
        return references.get(cluster);
      }
      long index = cluster - fileClusters;
      return index < referencesBeyondEnd.length ? referencesBeyondEnd[(int) index] : 0;
    }

    // ---------------------------------------------------------------------------------------
    // Snapshots (qcow2_do_read_snapshots)

    private record SnapshotEntry(String id, String name, long l1Offset, long l1Size) {}

    private void readSnapshots() throws IOException {
      long offset = snapshotsOffset;
      for (int i = 0; i < snapshotCount; i++) {
        offset = (offset + 7) & ~7L;
        ByteBuffer h = read(offset, 40);
        long snapshotL1Offset = h.getLong(0);
        long snapshotL1Size = Integer.toUnsignedLong(h.getInt(8));
        int idSize = Short.toUnsignedInt(h.getShort(12));
        int nameSize = Short.toUnsignedInt(h.getShort(14));
        long extraSize = Integer.toUnsignedLong(h.getInt(36));
        offset += 40;
        if (extraSize > MAX_SNAPSHOT_EXTRA_DATA) {
          addMessage(
              "ERROR Too much extra metadata in snapshot table entry %d", i);
          checkErrors++;
          walkFailed = true;
          return;
        }
        offset += extraSize;
        String id = cString(read(offset, idSize));
        offset += idSize;
        String name = cString(read(offset, nameSize));
        offset += nameSize;
        if (offset - snapshotsOffset > MAX_SNAPSHOTS_BYTES) {
          addMessage("ERROR Snapshot table is too big");
          checkErrors++;
          walkFailed = true;
          return;
        }
        snapshots.add(new SnapshotEntry(id, name, snapshotL1Offset, snapshotL1Size));
        if (version >= 3 && extraSize < 16) {
          // The spec makes vm_state_size_large and disk_size mandatory in version 3.
          corruption("ERROR snapshot table entry %d is incomplete", i);
        }
      }
      snapshotsSize = offset - snapshotsOffset;
    }

    // ---------------------------------------------------------------------------------------
    // Comparison (compare_refcounts, check_oflag_copied)

    /**
     * compare_refcounts(): returns the highest cluster with a refcount or a reference, -1 if none;
     * fixes the stored refcounts {@code fixing} allows (null: none).
     */
    private long compareRefcounts(RepairMode fixing) throws IOException {
      long highest = -1;
      // Past the end of the file as far as a table pointed (the reference array grew there).
      for (long cluster = 0; cluster < nbClusters; cluster++) {
        long stored = storedRefcount(cluster);
        if (stored == Long.MIN_VALUE) {
          checkErrors++;
          addMessage(
              "Can't get refcount for cluster %d: Input/output error", cluster);
          continue;
        }
        highest = compareOne(cluster, stored, computed(cluster), highest, fixing);
      }
      return highest;
    }

    private long compareOne(long cluster, long stored, long reference, long highest,
        RepairMode fixing) throws IOException {
      if (stored != 0 || reference != 0) {
        highest = cluster;
      }
      if (stored == reference) {
        return highest;
      }
      boolean low = Long.compareUnsigned(stored, reference) < 0;
      // A refcount of 0 has no refcount block to fix it in, or one the check cannot trust.
      boolean repair = false;
      if (stored == 0) {
        rebuild = true;
      } else if (fixing != null) {
        repair = !low || fixing == RepairMode.ALL;
      }
      addMessage("%s cluster %d refcount=%s reference=%d",
          repair ? "Repairing" : low ? "ERROR" : "Leaked", cluster,
          Long.toUnsignedString(stored), reference);
      if (repair && setStoredRefcount(cluster, reference)) {
        if (low) {
          corruptionsFixed++;
        } else {
          leaksFixed++;
        }
        return highest;
      }
      if (low) {
        corruptions++;
      } else {
        leaks++;
      }
      return highest;
    }

    /**
     * check_oflag_copied(): COPIED must be set exactly where the stored refcount is 1, in the
     * active L1 table and its L2 tables. Repaired with {@link RepairMode#ALL}, and with {@link
     * RepairMode#LEAKS} when the refcounts were found or made right (they decide the flags).
     */
    private void checkOflagCopied() throws IOException {
      boolean repair = fix == RepairMode.ALL
          || (fix == RepairMode.LEAKS && checkErrors == 0 && corruptions == 0 && leaks == 0);
      int entries = (int) (clusterSize / 8);
      for (int i = 0; i < activeL1.length; i++) {
        long l1Entry = activeL1[i];
        long l2Offset = l1Entry & L1E_OFFSET_MASK;
        if (l2Offset == 0) {
          continue;
        }
        long refcount = storedRefcount(l2Offset >>> clusterBits);
        if (refcount == Long.MIN_VALUE) {
          continue;
        }
        if ((refcount == 1) != ((l1Entry & OFLAG_COPIED) != 0)) {
          addMessage("%s OFLAG_COPIED L2 cluster: l1_index=%d l1_entry=%x refcount=%s",
              repair ? "Repairing" : "ERROR", i, l1Entry, Long.toUnsignedString(refcount));
          if (!repair) {
            corruptions++;
          } else {
            long fixed = refcount == 1 ? l1Entry | OFLAG_COPIED : l1Entry & ~OFLAG_COPIED;
            long entryOffset = l1Offset + 8L * i;
            if (!overlapFree(entryOffset, 8, MetadataType.ACTIVE_L1.mask())) {
              addMessage("ERROR: Could not write L1 entry; metadata overlap check failed: "
                  + "Input/output error");
              checkErrors++;
              corruptions++;
              failure = "Input/output error";
              return;
            }
            writeFully(ByteBuffer.allocate(8).putLong(0, fixed), entryOffset);
            activeL1[i] = fixed;
            corruptionsFixed++;
          }
        }
        long[] l2 = readL2(l2Offset, entries);
        int dirty = 0;
        for (int j = 0; j < l2.length; j++) {
          long l2Entry = l2[j];
          if ((l2Entry & OFLAG_COMPRESSED) != 0) {
            continue;
          }
          long dataOffset = l2Entry & L2E_OFFSET_MASK;
          if (dataOffset == 0) {
            continue;
          }
          long dataRefcount = storedRefcount(dataOffset >>> clusterBits);
          if (dataRefcount == Long.MIN_VALUE) {
            continue;
          }
          if ((dataRefcount == 1) != ((l2Entry & OFLAG_COPIED) != 0)) {
            corruptions++;
            addMessage("%s OFLAG_COPIED data cluster: l2_entry=%x refcount=%s",
                repair ? "Repairing" : "ERROR", l2Entry, Long.toUnsignedString(dataRefcount));
            if (repair) {
              l2[j] = dataRefcount == 1 ? l2Entry | OFLAG_COPIED : l2Entry & ~OFLAG_COPIED;
              dirty++;
            }
          }
        }
        if (dirty > 0) {
          if (!overlapFree(l2Offset, l2.length * 8L, MetadataType.ACTIVE_L2.mask())) {
            addMessage("ERROR: Could not write L2 table; metadata overlap check failed: "
                + "Input/output error");
            checkErrors++;
            failure = "Input/output error";
            return;
          }
          ByteBuffer table = ByteBuffer.allocate(l2.length * 8);
          table.asLongBuffer().put(l2);
          writeFully(table, l2Offset);
          corruptions -= dirty;
          corruptionsFixed += dirty;
        }
      }
    }

    // ---------------------------------------------------------------------------------------
    // Repair writes

    /**
     * Sets the stored refcount of {@code cluster}, whose refcount block exists (its refcount was
     * read from it); false if the write would hit metadata other than refcount blocks.
     */
    private boolean setStoredRefcount(long cluster, long value) throws IOException {
      if (Long.compareUnsigned(value, refcountMax) > 0) {
        return false;
      }
      int blockBits = clusterBits + 3 - refcountOrder;
      long blockOffset = refcountTableEntry((int) (cluster >>> blockBits)) & REFT_OFFSET_MASK;
      byte[] block = refcountBlock(blockOffset);
      int index = (int) (cluster & ((1L << blockBits) - 1));
      RefcountEntries.set(block, index, refcountOrder, value);
      int bytes = refcountOrder < 3 ? 1 : 1 << (refcountOrder - 3);
      int first = refcountOrder < 3 ? (index << refcountOrder) >>> 3 : index * bytes;
      if (!overlapFree(blockOffset + first, bytes, MetadataType.REFCOUNT_BLOCK.mask())) {
        cachedBlockOffset = -1; // the cached copy no longer matches the file
        return false;
      }
      writeFully(ByteBuffer.wrap(block, first, bytes).slice(), blockOffset + first);
      return true;
    }

    /**
     * Whether {@code [offset, offset + length)} touches no metadata found by this check other than
     * {@code ignoredTypes}: the checks of QEMU's default overlap-check mode {@code cached}, which
     * leaves out inactive L2 tables (a COPIED fix in an active L2 table that a snapshot shares is
     * what qemu-img does too).
     */
    private boolean overlapFree(long offset, long length, int ignoredTypes) {
      int checked = ~(ignoredTypes | MetadataType.INACTIVE_L2.mask());
      long first = offset >>> clusterBits;
      long last = Math.min((offset + length - 1) >>> clusterBits, fileClusters - 1);
      for (long cluster = first; cluster <= last; cluster++) {
        if ((types[(int) cluster] & checked) != 0) {
          return false;
        }
      }
      return true;
    }

    /**
     * Grows the file to {@code length} bytes (zeros) and the reference counts with it; false if
     * the file would be too large to check.
     */
    private boolean growFile(long length) throws IOException {
      long clusters = (length + clusterSize - 1) >>> clusterBits;
      if (clusters > MAX_FILE_CLUSTERS) {
        return false;
      }
      writeFully(ByteBuffer.allocate(1), length - 1);
      references.grow(clusters);
      for (int i = 0; i < referencesBeyondEnd.length && fileClusters + i < clusters; i++) {
        references.add(fileClusters + i, referencesBeyondEnd[i]);
      }
      referencesBeyondEnd = new int[0];
      types = Arrays.copyOf(types, (int) clusters);
      fileLength = length;
      fileClusters = clusters;
      nbClusters = Math.max(nbClusters, clusters);
      return true;
    }

    private void writeFully(ByteBuffer buffer, long offset) throws IOException {
      while (buffer.hasRemaining()) {
        file.write(buffer, offset + buffer.position());
      }
    }

    /**
     * rebuild_refcount_structure() of QEMU 7.2: new refcount blocks holding the counted
     * references, then a new refcount table, then the header switched to it. The old structure
     * stays counted in the new one (leaked, freed by the caller). New clusters are taken first fit
     * from the counted references: each refcount block from the start of the clusters it covers,
     * the table anywhere. Returns false (with {@link #failure} set) if a write was refused.
     */
    private boolean rebuildRefcountStructure() throws IOException {
      Rebuild r = new Rebuild();
      r.counts = new long[(int) Math.max(nbClusters, 1)];
      for (long cluster = 0; cluster < nbClusters; cluster++) {
        r.counts[(int) cluster] = computed(cluster);
      }
      r.size = nbClusters;
      long tableOffset;
      long tableClusters;
      boolean grown = writeRefcountBlocks(r, 0, r.size);
      assert grown;
      do {
        tableClusters = (r.tableEntries * 8L + clusterSize - 1) >>> clusterBits;
        long[] firstFree = {0};
        tableOffset = r.allocate(tableClusters, firstFree);
        long start = tableOffset >>> clusterBits;
        grown = writeRefcountBlocks(r, start, start + tableClusters);
        if (grown) {
          // Too small now: give the clusters back and place a larger table.
          for (long cluster = start; cluster < start + tableClusters; cluster++) {
            r.counts[(int) cluster] = 0;
          }
        }
      } while (grown);
      if (r.failed) {
        return false;
      }
      ByteBuffer table = ByteBuffer.allocate((int) (tableClusters << clusterBits));
      table.asLongBuffer().put(r.table, 0, r.tableEntries);
      if (!overlapFree(tableOffset, table.capacity(), 0)) {
        return rebuildFailed("ERROR writing reftable: Preventing invalid write on metadata");
      }
      writeFully(table, tableOffset);
      file.force(false);
      ByteBuffer header = ByteBuffer.allocate(12).putLong(0, tableOffset)
          .putInt(8, (int) tableClusters);
      writeFully(header, 48);
      file.force(false);
      refcountTableOffset = tableOffset;
      refcountTableSize = (int) (tableClusters << clusterBits >>> 3);
      refcountTable = Arrays.copyOf(r.table, refcountTableSize);
      cachedBlockOffset = -1;
      return true;
    }

    private boolean rebuildFailed(String message) {
      addMessage(message);
      checkErrors++;
      failure = "Input/output error";
      return false;
    }

    /** The in-memory refcounts and the new refcount table of a rebuild. */
    private final class Rebuild {
      long[] counts;
      long size;
      long[] table = new long[0];
      int tableEntries;
      boolean failed;

      /**
       * alloc_clusters_imrt(): the first run of {@code count} free clusters from {@code
       * firstFree[0]} (which moves to the first gap seen), growing the file if none; their counts
       * become 1.
       */
      long allocate(long count, long[] firstFree) {
        long cluster = firstFree[0];
        long run = 0;
        boolean firstGap = true;
        for (; cluster < size && run < count; cluster++) {
          if (counts[(int) cluster] == 0) {
            run++;
            if (firstGap) {
              firstFree[0] = cluster;
              firstGap = false;
            }
          } else {
            run = 0;
          }
        }
        if (run < count) {
          grow(cluster + count - run);
        }
        cluster -= run;
        for (long i = 0; i < count; i++) {
          counts[(int) (cluster + i)] = 1;
        }
        return cluster << clusterBits;
      }

      void grow(long newSize) {
        if (newSize > MAX_FILE_CLUSTERS) {
          throw new IllegalStateException("refcount rebuild past " + MAX_FILE_CLUSTERS);
        }
        if (newSize > counts.length) {
          counts = Arrays.copyOf(counts, (int) Math.max(newSize, counts.length * 2L));
        }
        size = Math.max(size, newSize);
      }
    }

    /**
     * rebuild_refcounts_write_refblocks(): writes a refcount block, allocating it if new, for every
     * block of clusters in {@code [first, end)} with a non-zero count. Returns whether the table
     * had to grow.
     */
    private boolean writeRefcountBlocks(Rebuild r, long first, long end) throws IOException {
      int blockBits = clusterBits + 3 - refcountOrder;
      long blockEntries = 1L << blockBits;
      long[] firstFree = {0};
      boolean grown = false;
      for (long cluster = first; cluster < end && !r.failed; cluster++) {
        if (r.counts[(int) cluster] == 0) {
          continue;
        }
        long index = cluster >>> blockBits;
        long start = index << blockBits;
        long blockOffset;
        if (index < r.tableEntries && r.table[(int) index] != 0) {
          blockOffset = r.table[(int) index];
        } else {
          firstFree[0] = Math.max(firstFree[0], start);
          blockOffset = r.allocate(1, firstFree);
          end = Math.max(end, (blockOffset >>> clusterBits) + 1);
          if (r.tableEntries <= index) {
            long entriesPerCluster = clusterSize / 8;
            long entries = (index + 1 + entriesPerCluster - 1) / entriesPerCluster
                * entriesPerCluster;
            if (entries > MAX_REFTABLE_BYTES / 8) {
              throw new IllegalStateException("refcount table of " + entries + " entries");
            }
            r.table = Arrays.copyOf(r.table, (int) entries);
            r.tableEntries = (int) entries;
            grown = true;
          }
          r.table[(int) index] = blockOffset;
        }
        if (!overlapFree(blockOffset, clusterSize, 0)) {
          r.failed = !rebuildFailed(
              "ERROR writing refblock: Preventing invalid write on metadata");
          return grown;
        }
        byte[] block = new byte[(int) clusterSize];
        for (long i = 0; i < blockEntries && start + i < r.size; i++) {
          RefcountEntries.set(block, (int) i, refcountOrder, r.counts[(int) (start + i)]);
        }
        writeFully(ByteBuffer.wrap(block), blockOffset);
        cluster = start + blockEntries - 1;
      }
      return grown;
    }

    /** Entry {@code index} of the refcount table; the part past the end of the file reads 0. */
    private long refcountTableEntry(int index) {
      return index < refcountTable.length ? refcountTable[index] : 0;
    }

    /** qcow2_get_refcount: the stored refcount, or {@link Long#MIN_VALUE} if it cannot be read. */
    private long storedRefcount(long cluster) throws IOException {
      int blockBits = clusterBits + 3 - refcountOrder;
      long tableIndex = cluster >>> blockBits;
      if (tableIndex >= refcountTableSize) {
        return 0;
      }
      long blockOffset = refcountTableEntry((int) tableIndex) & REFT_OFFSET_MASK;
      if (blockOffset == 0) {
        return 0;
      }
      if ((blockOffset & (clusterSize - 1)) != 0 || blockOffset < 0
          || blockOffset > Long.MAX_VALUE - clusterSize) {
        return Long.MIN_VALUE; // QEMU: unaligned is corruption, past 2^63 an I/O error
      }
      byte[] block = refcountBlock(blockOffset);
      int index = (int) (cluster & ((1L << blockBits) - 1));
      return refcountEntry(block, index);
    }

    /** One block at a time, read into the same array (a check looks up every cluster's refcount). */
    private byte[] refcountBlock(long blockOffset) throws IOException {
      if (blockOffset != cachedBlockOffset) {
        if (cachedBlock == null) {
          cachedBlock = new byte[(int) clusterSize];
        }
        ByteBuffer into = ByteBuffer.wrap(cachedBlock);
        if (blockOffset < fileLength) {
          into.limit((int) Math.min(clusterSize, fileLength - blockOffset));
          while (into.hasRemaining() && file.read(into, blockOffset + into.position()) >= 0) {
            // until the block or the file ends
          }
        }
        java.util.Arrays.fill(cachedBlock, into.position(), cachedBlock.length, (byte) 0);
        cachedBlockOffset = blockOffset;
      }
      return cachedBlock;
    }

    /** The unsigned big-endian number of {@code bytes} bytes at {@code at}: no buffer per lookup. */
    private static long bigEndian(byte[] block, int at, int bytes) {
      long value = 0;
      for (int i = 0; i < bytes; i++) {
        value = (value << 8) | (block[at + i] & 0xff);
      }
      return value;
    }

    private long refcountEntry(byte[] block, int index) {
      switch (refcountOrder) {
        case 0:
          return (block[index >>> 3] >>> (index & 7)) & 1;
        case 1:
          return (block[index >>> 2] >>> (2 * (index & 3))) & 3;
        case 2:
          return (block[index >>> 1] >>> (4 * (index & 1))) & 15;
        case 3:
          return block[index] & 0xff;
        case 4:
          return bigEndian(block, index * 2, 2);
        case 5:
          return bigEndian(block, index * 4, 4);
        default:
          return bigEndian(block, index * 8, 8);
      }
    }

    // ---------------------------------------------------------------------------------------
    // Messages and I/O

    private void corruption(String format, Object... args) {
      corruptions++;
      addMessage(format, args);
    }

    /** Counts a message; formats it only when it is kept: a broken image may have millions. */
    private void addMessage(String format, Object... args) {
      messageCount++;
      if (messages.size() < maxMessages) {
        messages.add(args.length == 0 ? format : String.format(format, args));
      }
    }

    /**
     * {@code count} big-endian entries from {@code offset}; entries beyond the end of the file
     * read as zero and are not allocated: the array is cut after the last entry in the file.
     */
    private long[] readTable(long offset, int count) throws IOException {
      if (count <= 0 || offset < 0 || offset >= fileLength) {
        return new long[0];
      }
      long available = (fileLength - offset + 7) / 8;
      int n = (int) Math.min(count, available);
      ByteBuffer buffer = read(offset, n * 8);
      long[] table = new long[n];
      buffer.asLongBuffer().get(table);
      return table;
    }

    /**
     * As {@link #readTable}, into one array reused from L2 table to L2 table (valid until the next
     * call): a check of a large image reads every table once or twice, and would otherwise leave
     * two arrays of garbage per table, which the default heap grows to absorb.
     */
    private long[] readL2(long offset, int count) throws IOException {
      if (count <= 0 || offset < 0 || offset + count * 8L > fileLength) {
        return readTable(offset, count);
      }
      if (l2Entries == null || l2Entries.length != count) {
        l2Entries = new long[count];
        l2Bytes = ByteBuffer.allocate(count * 8);
      }
      l2Bytes.clear();
      while (l2Bytes.hasRemaining()) {
        if (file.read(l2Bytes, offset + l2Bytes.position()) < 0) {
          return readTable(offset, count);
        }
      }
      l2Bytes.flip();
      l2Bytes.asLongBuffer().get(l2Entries);
      return l2Entries;
    }

    /** {@code length} bytes from {@code offset}, zeros beyond the end of the file. */
    private ByteBuffer read(long offset, int length) throws IOException {
      ByteBuffer buffer = ByteBuffer.allocate(length);
      if (offset >= 0 && offset < fileLength) {
        int wanted = (int) Math.min(length, fileLength - offset);
        buffer.limit(wanted);
        while (buffer.hasRemaining()) {
          int n = file.read(buffer, offset + buffer.position());
          if (n < 0) {
            break;
          }
        }
        buffer.limit(length);
      }
      buffer.clear();
      return buffer;
    }

    /** The bytes up to the first NUL, as QEMU prints the id and name it keeps as C strings. */
    private static String cString(ByteBuffer buffer) {
      byte[] bytes = buffer.array();
      int length = 0;
      while (length < bytes.length && bytes[length] != 0) {
        length++;
      }
      return new String(bytes, 0, length, StandardCharsets.UTF_8);
    }

    private static byte[] bytes(ByteBuffer buffer) {
      return buffer.array();
    }
  }
}

package io.qcow2.format;

import static com.google.common.base.Preconditions.checkArgument;
import static io.qcow2.overlap.MetadataType.ACTIVE_L1;
import static io.qcow2.overlap.MetadataType.ACTIVE_L2;
import static io.qcow2.overlap.MetadataType.BITMAP_DIRECTORY;
import static io.qcow2.overlap.MetadataType.INACTIVE_L1;
import static io.qcow2.overlap.MetadataType.INACTIVE_L2;
import static io.qcow2.overlap.MetadataType.MAIN_HEADER;
import static io.qcow2.overlap.MetadataType.REFCOUNT_BLOCK;
import static io.qcow2.overlap.MetadataType.REFCOUNT_TABLE;
import static io.qcow2.overlap.MetadataType.SNAPSHOT_TABLE;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import io.qcow2.overlap.OverlapCheckOptions;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckers;
import java.io.Closeable;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.LongBuffer;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * An open qcow2 image (versions 2 and 3).
 *
 * <p>Reads cover every cluster kind (data, zero, unallocated with backing fall-through, deflate
 * compressed). Writes allocate clusters first fit, copy on write clusters and L2 tables shared
 * with internal snapshots, and pass every host write through the overlap checker the open options
 * select; when a check fires the write is not done, the image is marked corrupt (version 3) and the
 * open image refuses further writes, as QEMU's {@code qcow2_signal_corruption} does. So do the
 * checks QEMU makes when it follows a pointer (an unaligned table or cluster offset, an allocation
 * at offset 0) and a refcount that would drop to 0 on metadata the checker protects ({@link
 * MetadataCorruptionException}). A guest request is validated whole before its first byte is
 * written; reads go on after a corruption event.
 *
 * <p>Open options use QEMU's names: {@code overlap-check}, {@code overlap-check.template}, {@code
 * overlap-check.<type>}, plus {@code overlap-strategy} and the options the selected strategy
 * declares (e.g. windowed's {@code overlap-window-size}). Unknown keys are rejected, naming what the
 * selected strategy accepts. Strategies are found on the class path and the strategy path
 * ({@link OverlapCheckers#STRATEGY_PATH_PROPERTY}).
 *
 * <p><b>Not thread-safe</b>: one call at a time. A call that starts while another thread's call is
 * in flight is refused with a {@link ConcurrentUseException} before it does anything; callers that
 * share an image between threads serialise their calls, for example with a lock.
 */
public final class Qcow2Image implements Closeable, GuestImage {
  /*
   * Crash consistency: within one public operation, guest data is written first, then (commit())
   * refcount blocks, refcount table entries, L2 tables, the L1 table and the header, then the
   * queued refcount decrements. So a new cluster's refcount reaches the disk before any pointer to
   * it, and a pointer is gone before its target's refcount drops. A crash leaks at worst.
   */
  static final long L1_OFFSET_MASK = MetadataView.L1_OFFSET_MASK;
  static final long L2_OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;
  static final long COPIED = 1L << 63;
  static final long COMPRESSED = 1L << 62;
  static final long ZERO_FLAG = 1L;
  private static final int MAX_BACKING_DEPTH = 16;

  private final Path path;
  private final HostFile file;
  private final Header header;
  private final boolean writable;
  private final int clusterBits;
  private final int clusterSize;
  private final int l2Bits;
  private List<Snapshot> snapshots;
  private long snapshotTableLength;
  private final Refcounts refcounts;
  /** The persistent dirty bitmaps, live while the image is open (issue 16). */
  private final PersistentBitmaps bitmaps;
  private final GuestImage backing;
  /** Opened without its backing chain ({@link #openWithoutBacking}): reads that need it fail. */
  private final boolean backingSkipped;
  private final String strategyName;
  private final int enabledMask;
  /** The open options, to rebuild the checker from the file after a refused request. */
  private final Map<String, String> options;
  /** Guest data of the request being planned, written once the whole request is validated. */
  private final List<PendingWrite> pendingData = new ArrayList<>();
  private long[] l1;
  /** The bytes of the L1 range being written (reused). */
  private byte[] l1WriteBuffer = new byte[0];
  private LongBuffer l1WriteLongs = LongBuffer.allocate(0);
  private int l1DirtyFrom = Integer.MAX_VALUE;
  private int l1DirtyTo = -1;
  /** L2 tables by host offset; sized by {@code l2-cache-size} / {@code cache-size}. */
  private final TableCache<long[]> l2Cache;
  /** The bytes of the L2 table being read into the cache (one buffer, reused), and its view. */
  private final byte[] l2Buffer;
  private final LongBuffer l2BufferLongs;
  /** The bytes of the L2 tables being written back (reused, grows to {@link #L2_WRITE_BYTES}). */
  private byte[] l2WriteBuffer = new byte[0];
  private LongBuffer l2WriteLongs = LongBuffer.allocate(0);
  /** Contiguous dirty L2 tables are written together up to this many bytes. */
  private static final int L2_WRITE_BYTES = 128 << 10;
  private boolean corruptEvent;
  private boolean closed;
  /** Refuses a call while another thread's call is in flight (the image is not thread-safe). */
  private final InFlightCalls calls = new InFlightCalls("Qcow2Image");
  /** The last inflated cluster and its L2 entry; {@code cachedCompressed == null} means none. */
  private long cachedCompressedEntry;
  private byte[] cachedCompressed;

  private Qcow2Image(Path path, HostIo io, Header header, boolean writable,
      Map<String, String> options, int depth, boolean withBacking) throws IOException {
    this.path = path;
    this.file = new HostFile(io, header.clusterSize);
    this.header = header;
    this.writable = writable;
    this.clusterBits = header.clusterBits;
    this.clusterSize = header.clusterSize;
    this.l2Bits = clusterBits - 3;
    this.snapshots = header.snapshotCount == 0 ? List.of()
        : List.copyOf(Snapshot.readTable(file.io(), header.snapshotsOffset, header.snapshotCount, clusterBits));
    this.snapshotTableLength = Snapshot.tableLength(snapshots, header.snapshotsOffset, file.io());
    this.l1 = readL1();
    CacheSizes cacheSizes = CacheSizes.resolve(options, header.size, clusterBits);
    this.l2Cache = new TableCache<>(cacheSizes.l2Tables(), () -> new long[1 << l2Bits]);
    this.l2Buffer = new byte[clusterSize];
    this.l2BufferLongs = ByteBuffer.wrap(l2Buffer).asLongBuffer();
    this.refcounts = new Refcounts(file, header, cacheSizes.refcountBlocks());
    this.bitmaps = PersistentBitmaps.load(file, header, refcounts);
    this.file.handler = new Corruption();
    this.strategyName = OverlapCheckers.selectedName(options);
    this.enabledMask = OverlapCheckOptions.enabledMask(options);
    this.options = Map.copyOf(options);
    buildChecker();
    this.backingSkipped = header.backingFile != null && !withBacking;
    this.backing = header.backingFile == null || !withBacking ? null : openBacking(options, depth);
  }

  // ---------------------------------------------------------------------------------------------
  // Open and create

  /**
   * Opens an image.
   *
   * @param options open options (see the class comment); may be empty
   * @param writable whether to open for writing
   * @throws CorruptImageException if a header field or table is invalid, or (writable) the image is
   *     marked corrupt, or is dirty and the repair QEMU makes at open (check -r all) fails
   * @throws UnsupportedFeatureException for an incompatible feature this engine does not implement
   * @throws IllegalArgumentException for an unknown or invalid option
   */
  public static Qcow2Image open(Path path, Map<String, String> options, boolean writable)
      throws IOException {
    return open(path, options, writable, HostIo.FILES);
  }

  /** As {@link #open(Path, Map, boolean)}, the image file opened by {@code opener}. */
  static Qcow2Image open(Path path, Map<String, String> options, boolean writable, HostIo.Opener opener)
      throws IOException {
    return open(path, options, writable, 0, true, opener);
  }

  /**
   * Opens an image read-only without opening its backing chain, as {@code qemu-img info} does, so
   * that an image whose backing file is missing or broken can still be described. Reads and map
   * queries that would fall through to the backing file fail with a {@link Qcow2Exception}.
   *
   * @throws CorruptImageException if a header field or table is invalid
   * @throws UnsupportedFeatureException for an incompatible feature this engine does not implement
   * @throws IllegalArgumentException for an unknown or invalid option
   */
  public static Qcow2Image openWithoutBacking(Path path, Map<String, String> options) throws IOException {
    return open(path, options, false, 0, false, HostIo.FILES);
  }

  private static Qcow2Image open(Path path, Map<String, String> options, boolean writable, int depth,
      boolean withBacking, HostIo.Opener opener) throws IOException {
    Objects.requireNonNull(path, "path");
    checkOpenOptions(options);
    checkRegularFile(path);
    HostIo io = opener.open(path, writable);
    try {
      Header header = Header.read(io);
      header.checkFeatures();
      if (writable && header.corrupt()) {
        throw new CorruptImageException(path + ": image is marked corrupt (corrupt bit set); it cannot be "
            + "opened read/write. Repair it with 'qcow2 check -r all' or 'qemu-img check -r all', "
            + "or open it read-only");
      }
      if (writable && header.dirty()) {
        io.close();
        repairDirty(path);
        return open(path, options, writable, depth, withBacking, opener);
      }
      Qcow2Image image = new Qcow2Image(path, io, header, writable, options, depth, withBacking);
      if (writable) {
        try {
          image.refcounts.checkDistinctBlocks();
        } catch (CorruptImageException e) {
          image.close();
          throw e;
        }
      }
      long maintained = header.bitmapCount > 0 ? Header.AUTOCLEAR_BITMAPS : 0;
      if (writable && (header.autoclear & ~maintained) != 0) {
        // Autoclear features we do not maintain are cleared before any write (spec); the bitmaps
        // bit stays when there are bitmaps: PersistentBitmaps maintains them.
        image.header.autoclear &= maintained;
        image.writeHeader();
      }
      if (writable) {
        image.bitmaps.markInUse();
      }
      return image;
    } catch (IOException | RuntimeException e) {
      io.close();
      throw e;
    }
  }

  /**
   * QEMU's qcow2_do_open: a dirty image (refcounts left stale by lazy refcounts and a crash) opened
   * read/write is first checked and repaired ({@code check -r all}), which clears the dirty bit.
   *
   * @throws CorruptImageException if the repair fails or leaves errors, naming what remains
   */
  private static void repairDirty(Path path) throws IOException {
    RepairResult repaired = ImageCheck.repair(path, RepairMode.ALL, 0);
    if (repaired.failure() != null || repaired.result().exitCode() != 0) {
      throw new CorruptImageException(path + ": Could not repair dirty image (" + (repaired.failure() != null
          ? repaired.failure() : "'check -r all' left exit status " + repaired.result().exitCode())
          + "); open it read-only, or repair it with 'qemu-img check -r all'");
    }
    try (RandomAccessFile f = new RandomAccessFile(path.toFile(), "r")) {
      f.seek(72);
      if ((f.readLong() & Header.INCOMPAT_DIRTY) != 0) {
        throw new CorruptImageException(path + ": Could not repair dirty image (the dirty bit stayed set)");
      }
    }
  }

  /**
   * A qcow2 image is a regular file: anything else fails here with what it is (RandomAccessFile
   * "rw" would create a missing file, and reads a device as an endless or empty stream).
   */
  static void checkRegularFile(Path path) throws IOException {
    if (java.nio.file.Files.isRegularFile(path)) {
      return;
    }
    if (java.nio.file.Files.isDirectory(path)) {
      throw new java.nio.file.FileSystemException(path.toString(), null, "Is a directory");
    }
    if (java.nio.file.Files.exists(path)) {
      throw new java.nio.file.FileSystemException(path.toString(), null,
          "Not a regular file (a device or special file); a qcow2 image is a regular file");
    }
    throw new java.nio.file.NoSuchFileException(path.toString(), null, "No such file or directory");
  }

  /**
   * Checks open options as {@link #open} does before it reads the file: known keys only (the
   * overlap checks', the selected strategy's, and the cache sizes {@code l2-cache-size}, {@code
   * refcount-cache-size}, {@code cache-size}), each cache size well formed. For tools that read
   * an image without opening it ({@code qcow2 check}).
   *
   * @throws IllegalArgumentException naming the bad option
   */
  public static void validateOpenOptions(Map<String, String> options) {
    checkOpenOptions(options);
    for (String name : CacheSizes.OPTION_NAMES) {
      if (options.containsKey(name)) {
        CacheSizes.parse(name, options.get(name));
      }
    }
  }

  private static void checkOpenOptions(Map<String, String> options) {
    Objects.requireNonNull(options, "options");
    // The engine's own options are the cache sizes (checked when the header is known).
    try {
      OverlapCheckers.checkOptionNames(CacheSizes.withoutCacheOptions(options));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(e.getMessage() + "; the engine also accepts "
          + String.join(", ", CacheSizes.OPTION_NAMES), e);
    }
  }

  /**
   * Creates an image and returns it open for writing.
   *
   * @param virtualSize guest size in bytes, rounded up to 512 as qemu-img does; -1 to take the
   *     backing file's size
   * @param createOptions QEMU's: {@code cluster_size}, {@code refcount_bits}, {@code compat}
   *     (0.10 or 1.1), {@code lazy_refcounts} (on/off), {@code backing_file}, {@code backing_fmt},
   *     {@code preallocation} (off, metadata, falloc, full)
   * @param openOptions as for {@link #open}
   * @throws IllegalArgumentException for an unknown or invalid option, listing the allowed values
   */
  public static Qcow2Image create(Path path, long virtualSize, Map<String, String> createOptions,
      Map<String, String> openOptions) throws IOException {
    return ImageCreator.create(path, virtualSize, createOptions, openOptions);
  }

  private GuestImage openBacking(Map<String, String> options, int depth) throws IOException {
    if (depth >= MAX_BACKING_DEPTH) {
      throw new UnsupportedFeatureException("Backing chain deeper than " + MAX_BACKING_DEPTH + " images: " + path);
    }
    Path backingPath = resolveBacking(path, header.backingFile);
    String format = header.backingFormat;
    try {
      if (format == null) {
        format = probeFormat(backingPath);
      }
      switch (format) {
        case "qcow2":
          Map<String, String> backingOptions = new HashMap<>();
          backingOptions.put(OverlapCheckers.STRATEGY_OPTION, strategyName);
          backingOptions.put(OverlapCheckOptions.OVERLAP_CHECK, "none");
          return open(backingPath, backingOptions, false, depth + 1, true, HostIo.FILES);
        case "raw":
          return new RawImage(backingPath);
        default:
          throw UnsupportedFeatureException.features("backing file format '" + format + "' (only qcow2 and raw)");
      }
    } catch (Qcow2Exception e) {
      throw e;
    } catch (IOException e) {
      // QEMU: "Could not open backing file: ..."; a missing or unreadable file is the image's fault.
      throw new Qcow2Exception(String.format("Could not open backing file '%s' of %s: %s",
          printable(header.backingFile), path, e), e);
    }
  }

  /** Resolves a backing file name as QEMU does: relative names against the image's directory. */
  static Path resolveBacking(Path image, String name) throws Qcow2Exception {
    if (name.startsWith("json:") || name.contains("://")) {
      throw UnsupportedFeatureException.features("backing file name '" + printable(name)
          + "' (protocols and json: are not supported)");
    }
    Path p;
    try {
      p = Path.of(name);
    } catch (InvalidPathException e) {
      throw new CorruptImageException("Invalid backing file name '" + printable(name) + "': " + e.getReason());
    }
    if (p.isAbsolute()) {
      return p;
    }
    Path dir = image.toAbsolutePath().getParent();
    return dir == null ? p : dir.resolve(p);
  }

  /**
   * {@code text} with control characters (NUL included) escaped as {@code \xNN}, for names read
   * from an image that end up in a message.
   */
  static String printable(String text) {
    StringBuilder out = new StringBuilder(text.length());
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (Character.isISOControl(c)) {
        out.append(String.format("\\x%02x", (int) c));
      } else {
        out.append(c);
      }
    }
    return out.toString();
  }

  static String probeFormat(Path path) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(path.toFile(), "r")) {
      return f.length() >= 4 && f.readInt() == Header.MAGIC ? "qcow2" : "raw";
    }
  }

  private long[] readL1() throws IOException {
    byte[] raw = new byte[header.l1Size * 8];
    file.read(header.l1Offset, raw, 0, raw.length);
    long[] table = new long[header.l1Size];
    ByteBuffer.wrap(raw).asLongBuffer().get(table);
    return table;
  }

  /** A new checker holding every metadata structure its mode covers (QEMU's open-time setup). */
  private void buildChecker() throws IOException {
    file.tracker = MetadataTracker.of(OverlapCheckers.create(options, clusterBits, new View()));
    enterMetadata();
  }

  private void enterMetadata() throws IOException {
    MetadataTracker checker = file.tracker;
    int mask = checker.enabledMask();
    if (mask == 0) {
      return;
    }
    checker.enter(0, 1, MAIN_HEADER.mask());
    if (l1.length > 0) {
      checker.enter(header.l1Offset, clustersFor(l1.length * 8L), ACTIVE_L1.mask());
    }
    for (long e : l1) {
      enterTable(e & L1_OFFSET_MASK, ACTIVE_L2);
    }
    checker.enter(header.refcountTableOffset, header.refcountTableClusters, REFCOUNT_TABLE.mask());
    for (long e : refcounts.table) {
      enterTable(e & MetadataView.REFCOUNT_TABLE_OFFSET_MASK, REFCOUNT_BLOCK);
    }
    if (!snapshots.isEmpty()) {
      checker.enter(header.snapshotsOffset, clustersFor(snapshotTableLength), SNAPSHOT_TABLE.mask());
    }
    for (int i = 0; i < snapshots.size(); i++) {
      Snapshot s = snapshots.get(i);
      if (s.l1Size() > 0) {
        checker.enter(s.l1Offset(), clustersFor(s.l1Size() * 8L), INACTIVE_L1.mask());
        // Snapshot L1 tables are read at open only when inactive L2 tables are checked.
        if ((mask & INACTIVE_L2.mask()) != 0) {
          for (long e : readSnapshotL1(i)) {
            enterTable(e & L1_OFFSET_MASK, INACTIVE_L2);
          }
        }
      }
    }
    if (header.bitmapDirectorySize > 0 && (header.autoclear & Header.AUTOCLEAR_BITMAPS) != 0) {
      checker.enter(header.bitmapDirectoryOffset, clustersFor(header.bitmapDirectorySize), BITMAP_DIRECTORY.mask());
    }
    bitmaps.enterMetadata(checker);
  }

  /**
   * Enters the one-cluster table a table entry points at (nothing for 0). An unaligned table is
   * entered on both clusters it touches, as a scanning strategy (legacy) sees it, so that every
   * strategy gives the same answer on a corrupt image; the part at or beyond 2^56 is left out.
   */
  private void enterTable(long offset, MetadataType type) {
    if (offset == 0 || Long.compareUnsigned(offset, Header.MAX_HOST_OFFSET) >= 0) {
      return;
    }
    long first = offset & -(long) clusterSize;
    long clusters = Math.min(aligned(offset) ? 1 : 2, (Header.MAX_HOST_OFFSET - first) >>> clusterBits);
    file.tracker.enter(first, clusters, type.mask());
  }

  private long[] readSnapshotL1(int index) throws IOException {
    Snapshot s = snapshots.get(index);
    byte[] raw = new byte[s.l1Size() * 8];
    file.read(s.l1Offset(), raw, 0, raw.length);
    long[] table = new long[s.l1Size()];
    ByteBuffer.wrap(raw).asLongBuffer().get(table);
    return table;
  }

  // ---------------------------------------------------------------------------------------------
  // Public accessors

  @Override
  public long virtualSize() {
    return header.size;
  }

  public int clusterSize() {
    return clusterSize;
  }

  /** What the header says now. */
  public ImageInfo info() {
    try (InFlightCalls call = calls.enter("info")) {
      return infoUnguarded();
    }
  }

  private ImageInfo infoUnguarded() {
    return header.info();
  }

  public Path path() {
    return path;
  }

  public boolean isWritable() {
    return writable && !corruptEvent;
  }

  /** The overlap checker, empty when the options select mode {@code none}. */
  public Optional<OverlapChecker> overlapChecker() {
    return file.tracker.checker();
  }

  /** The name of the strategy the options selected. */
  public String overlapStrategy() {
    return strategyName;
  }

  /** The metadata types the options enable, as a {@link MetadataType} mask (0 for mode none). */
  public int overlapMask() {
    return enabledMask;
  }

  // ---------------------------------------------------------------------------------------------
  // Reading

  /**
   * Reads guest bytes.
   *
   * @throws IllegalArgumentException if the range is negative or ends beyond the virtual size
   */
  @Override
  public void read(long guestOffset, byte[] buf, int off, int len) throws IOException {
    try (InFlightCalls call = calls.enter("read")) {
      readUnguarded(guestOffset, buf, off, len);
    }
  }

  private void readUnguarded(long guestOffset, byte[] buf, int off, int len) throws IOException {
    checkOpen();
    checkRange(guestOffset, len);
    Objects.checkFromIndexSize(off, len, buf.length);
    while (len > 0) {
      long cluster = guestOffset >>> clusterBits;
      int inCluster = (int) (guestOffset & (clusterSize - 1));
      int n = (int) Math.min(len, clusterSize - inCluster);
      long entry = l2Entry(cluster);
      switch (kind(entry)) {
        case DATA: {
          long host = allocatedOffset(entry, cluster);
          // Extend over following clusters that are contiguous on the host: one read.
          long next = cluster + 1;
          while (n < len) {
            long e = l2Entry(next);
            if (kind(e) != Extent.Kind.DATA || allocatedOffset(e, next) != host + ((next - cluster) << clusterBits)) {
              break;
            }
            n = (int) Math.min(len, n + (long) clusterSize);
            next++;
          }
          file.read(host + inCluster, buf, off, n);
          break;
        }
        case ZERO:
          zeroEntryOffset(entry, cluster);
          Arrays.fill(buf, off, off + n, (byte) 0);
          break;
        case UNALLOCATED:
          readBacking(guestOffset, buf, off, n);
          break;
        case COMPRESSED: {
          byte[] data = decompress(entry, cluster);
          System.arraycopy(data, inCluster, buf, off, n);
          break;
        }
        default:
          throw new AssertionError();
      }
      guestOffset += n;
      off += n;
      len -= n;
    }
  }

  private void readBacking(long guestOffset, byte[] buf, int off, int len) throws IOException {
    checkBackingOpened();
    long inBacking = backing == null ? 0 : Math.max(0, Math.min(len, backing.virtualSize() - guestOffset));
    if (inBacking > 0) {
      backing.read(guestOffset, buf, off, (int) inBacking);
    }
    Arrays.fill(buf, off + (int) inBacking, off + len, (byte) 0);
  }

  /** The kind of an L2 entry (QEMU's qcow2_get_cluster_type). */
  static Extent.Kind kind(long entry) {
    if ((entry & COMPRESSED) != 0) {
      return Extent.Kind.COMPRESSED;
    }
    if ((entry & ZERO_FLAG) != 0) {
      return Extent.Kind.ZERO;
    }
    return (entry & L2_OFFSET_MASK) == 0 ? Extent.Kind.UNALLOCATED : Extent.Kind.DATA;
  }

  /**
   * The host offset of a data or zero entry of guest cluster {@code cluster} (0 for a zero entry
   * without one), after the check QEMU makes on every read of it (qcow2_get_host_offset).
   *
   * @throws MetadataCorruptionException if the offset is not cluster-aligned
   */
  private long allocatedOffset(long entry, long cluster) throws IOException {
    long host = entry & L2_OFFSET_MASK;
    if (!aligned(host)) {
      throw file.corruption(String.format(
          "Cluster allocation offset %s unaligned (L2 offset: %s, L2 index: %s)", hex(host),
          hex(l1[(int) (cluster >>> l2Bits)] & L1_OFFSET_MASK), hex(cluster & ((1 << l2Bits) - 1))));
    }
    return host;
  }

  /**
   * The checks QEMU makes when it reads a zero entry: version 2 has no zero flag, and a
   * preallocated zero cluster's offset must be aligned.
   */
  private void zeroEntryOffset(long entry, long cluster) throws IOException {
    if (header.version < 3) {
      throw file.corruption(String.format("Zero cluster entry found in pre-v3 image (L2 offset: %s, L2 index: %s)",
          hex(l1[(int) (cluster >>> l2Bits)] & L1_OFFSET_MASK), hex(cluster & ((1 << l2Bits) - 1))));
    }
    allocatedOffset(entry, cluster);
  }

  private static String hex(long value) {
    return MetadataCorruptionException.hex(value);
  }

  /** The L2 entry of guest cluster {@code cluster}; 0 where no L2 table exists. */
  private long l2Entry(long cluster) throws IOException {
    int l1Index = (int) (cluster >>> l2Bits);
    if (l1Index >= l1.length) {
      return 0;
    }
    long l2Offset = l2Offset(l1Index);
    if (l2Offset == 0) {
      return 0;
    }
    return l2Table(l2Offset)[(int) (cluster & ((1 << l2Bits) - 1))];
  }

  /**
   * The L2 table offset of L1 entry {@code l1Index} (0: none).
   *
   * @throws MetadataCorruptionException if it is not cluster-aligned (QEMU's check)
   */
  private long l2Offset(int l1Index) throws IOException {
    long offset = l1[l1Index] & L1_OFFSET_MASK;
    if (!aligned(offset)) {
      throw file.corruption(String.format("L2 table offset %s unaligned (L1 index: %s)", hex(offset), hex(l1Index)));
    }
    return offset;
  }

  private long[] l2Table(long offset) throws IOException {
    long[] table = l2Cache.get(offset);
    if (table == null) {
      // Only clean tables are evicted, so every table an operation changes stays cached; an
      // evicted table's array takes the new one, so a scan of a large image (map, a long read)
      // allocates nothing per table.
      table = l2Cache.put(offset);
      file.read(offset, l2Buffer, 0, clusterSize);
      l2BufferLongs.get(0, table);
    }
    return table;
  }

  private long[] readTable(long offset, int entries) throws IOException {
    byte[] raw = new byte[entries * 8];
    file.read(offset, raw, 0, raw.length);
    long[] table = new long[entries];
    ByteBuffer.wrap(raw).asLongBuffer().get(table);
    return table;
  }

  /** Decompresses a compressed cluster with the image's compression type (CompressedClusters). */
  private byte[] decompress(long entry, long cluster) throws IOException {
    if (cachedCompressed != null && entry == cachedCompressedEntry) {
      return cachedCompressed;
    }
    long hostOffset = CompressedDescriptor.hostOffset(entry, clusterBits);
    int compressedSize = (int) CompressedDescriptor.compressedBytes(entry, clusterBits);
    byte[] in = new byte[compressedSize];
    file.read(hostOffset, in, 0, compressedSize);
    byte[] out = new byte[clusterSize];
    try {
      CompressedClusters.decompress(header.compressionType, in, compressedSize, out);
    } catch (CompressedClusters.BadDataException e) {
      throw new CorruptImageException(String.format(
          "Compressed cluster for guest cluster %d at host offset 0x%x (%d bytes, %s): %s",
          cluster, hostOffset, compressedSize, CompressedClusters.name(header.compressionType), e.getMessage()));
    }
    cachedCompressedEntry = entry;
    cachedCompressed = out;
    return out;
  }

  /** Host clusters a compressed entry occupies: {offset of first byte, length in bytes}. */
  private long[] compressedRange(long entry) {
    return new long[] {CompressedDescriptor.firstSector(entry, clusterBits),
        CompressedDescriptor.sectors(entry, clusterBits) * 512};
  }

  // ---------------------------------------------------------------------------------------------
  // Map

  /**
   * The guest-to-host map of the whole image, adjacent runs of the same kind and source with
   * contiguous host offsets merged, as {@code qemu-img map} does.
   */
  public List<Extent> map() throws IOException {
    try (InFlightCalls call = calls.enter("map")) {
      return mapUnguarded();
    }
  }

  private List<Extent> mapUnguarded() throws IOException {
    checkOpen();
    List<Extent> extents = new ArrayList<>();
    long offset = 0;
    while (offset < header.size) {
      Extent next = extentAt(offset, header.size - offset);
      Extent last = extents.isEmpty() ? null : extents.get(extents.size() - 1);
      if (last != null && last.kind() == next.kind() && last.fromBacking() == next.fromBacking()
          && next.kind() != Extent.Kind.COMPRESSED
          && (last.hostOffset() < 0 ? next.hostOffset() < 0 : last.hostOffset() + last.length() == next.hostOffset())) {
        extents.set(extents.size() - 1,
            new Extent(last.guestOffset(), last.length() + next.length(), last.kind(), last.hostOffset(), last.fromBacking()));
      } else {
        extents.add(next);
      }
      offset = next.end();
    }
    return extents;
  }

  @Override
  public Extent extentAt(long guestOffset, long maxLength) throws IOException {
    try (InFlightCalls call = calls.enter("extentAt")) {
      return extentAtUnguarded(guestOffset, maxLength);
    }
  }

  private Extent extentAtUnguarded(long guestOffset, long maxLength) throws IOException {
    long cluster = guestOffset >>> clusterBits;
    int inCluster = (int) (guestOffset & (clusterSize - 1));
    long length = Math.min(maxLength, clusterSize - inCluster);
    int l1Index = (int) (cluster >>> l2Bits);
    if (l1Index >= l1.length || l2Offset(l1Index) == 0) {
      // No L2 table: the whole range it would map is unallocated here.
      long rangeEnd = (long) (l1Index + 1) << (l2Bits + clusterBits);
      length = Math.min(maxLength, rangeEnd - guestOffset);
    }
    long entry = l2Entry(cluster);
    Extent.Kind kind = kind(entry);
    if (kind != Extent.Kind.COMPRESSED && length < maxLength && l1Index < l1.length && l2Offset(l1Index) != 0) {
      length = runLength(cluster, entry, inCluster, maxLength);
    }
    switch (kind) {
      case DATA:
        return new Extent(guestOffset, length, kind, allocatedOffset(entry, cluster) + inCluster, false);
      case COMPRESSED:
        return new Extent(guestOffset, length, kind, CompressedDescriptor.hostOffset(entry, clusterBits), false);
      case ZERO:
        zeroEntryOffset(entry, cluster);
        return new Extent(guestOffset, length, kind, -1, false);
      default:
        checkBackingOpened();
        if (backing != null && guestOffset < backing.virtualSize()) {
          Extent b = backing.extentAt(guestOffset, Math.min(length, backing.virtualSize() - guestOffset));
          return new Extent(guestOffset, b.length(), b.kind(), b.hostOffset(), true);
        }
        return new Extent(guestOffset, length, Extent.Kind.UNALLOCATED, -1, false);
    }
  }

  /**
   * Bytes from {@code inCluster} of guest cluster {@code cluster} (whose entry is {@code entry},
   * not compressed) to the end of the run of entries in the same L2 table that read alike: data
   * at contiguous host offsets, zero, or unallocated; at most {@code maxLength}. One extent per run
   * keeps {@code map} of a large image to a few objects per run instead of per cluster. Entries
   * after the first are compared, not followed, so a corrupt one ends the run and is reported
   * (with its corruption event) only when asked for itself.
   */
  private long runLength(long cluster, long entry, int inCluster, long maxLength) throws IOException {
    long[] l2 = l2Table(l2Offset((int) (cluster >>> l2Bits)));
    Extent.Kind kind = kind(entry);
    long host = entry & L2_OFFSET_MASK;
    long length = clusterSize - inCluster;
    for (int i = (int) (cluster & ((1 << l2Bits) - 1)) + 1; i < l2.length && length < maxLength; i++) {
      long e = l2[i];
      if (kind(e) != kind) {
        break;
      }
      if (kind == Extent.Kind.DATA) {
        host += clusterSize;
        if ((e & L2_OFFSET_MASK) != host) {
          break;
        }
      } else if (kind == Extent.Kind.ZERO && (header.version < 3 || !aligned(e & L2_OFFSET_MASK))) {
        break;
      }
      length += clusterSize;
    }
    return Math.min(length, maxLength);
  }

  // ---------------------------------------------------------------------------------------------
  // Writing

  /**
   * Writes guest bytes.
   *
   * @throws MetadataOverlapException if a host write would land on metadata; the image is then
   *     marked corrupt and read-only
   * @throws ReadOnlyImageException if the image is read-only or a corruption event happened
   * @throws IllegalArgumentException if the range ends beyond the virtual size
   */
  public void write(long guestOffset, byte[] buf, int off, int len) throws IOException {
    try (InFlightCalls call = calls.enter("write")) {
      writeUnguarded(guestOffset, buf, off, len);
    }
  }

  private void writeUnguarded(long guestOffset, byte[] buf, int off, int len) throws IOException {
    checkWritable();
    checkRange(guestOffset, len);
    Objects.checkFromIndexSize(off, len, buf.length);
    bitmaps.guestWrite(guestOffset, len);
    request(() -> {
      long at = guestOffset;
      int from = off;
      int left = len;
      while (left > 0) {
        long cluster = at >>> clusterBits;
        int inCluster = (int) (at & (clusterSize - 1));
        int n = 0;
        if (inCluster == 0 && left >= 2 * clusterSize) {
          n = writeFullClusters(cluster, buf, from, left >>> clusterBits) << clusterBits;
        }
        if (n == 0) {
          n = Math.min(left, clusterSize - inCluster);
          writeCluster(cluster, inCluster, buf, from, n);
        }
        at += n;
        from += n;
        left -= n;
      }
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Compressed writes (issue 16; the codec is CompressedClusters, the packing CompressedSpace)

  /**
   * Writes whole guest clusters compressed with the image's compression type (zlib or zstd), as
   * qemu-io's {@code write -c}: each cluster that compresses to less than a cluster is stored
   * compressed, any other is written as usual. Every host write is overlap-checked.
   *
   * @throws IllegalArgumentException unless the range starts on a cluster boundary and ends on
   *     one or at the end of the image
   * @throws Qcow2Exception if one of the clusters is allocated (QEMU's "compression can't
   *     overwrite anything"); nothing is written then
   * @throws MetadataOverlapException, ReadOnlyImageException as {@link #write}
   */
  public void writeCompressed(long guestOffset, byte[] buf, int off, int len) throws IOException {
    try (InFlightCalls call = calls.enter("writeCompressed")) {
      checkWritable();
      checkRange(guestOffset, len);
      Objects.checkFromIndexSize(off, len, buf.length);
      if ((guestOffset & (clusterSize - 1)) != 0
          || ((len & (clusterSize - 1)) != 0 && guestOffset + len != header.size)) {
        throw new IllegalArgumentException(String.format(
            "Compressed writes cover whole clusters of %d bytes (or end at the image's end %d): "
                + "offset %d, length %d", clusterSize, header.size, guestOffset, len));
      }
      bitmaps.guestWrite(guestOffset, len);
      request(() -> {
        CompressedSpace space = new CompressedSpace(refcounts, clusterBits);
        byte[] cluster = new byte[clusterSize];
        byte[] packed = new byte[clusterSize];
        for (int done = 0; done < len; done += clusterSize) {
          long guestCluster = (guestOffset + done) >>> clusterBits;
          int n = Math.min(clusterSize, len - done);
          int l1Index = (int) (guestCluster >>> l2Bits);
          int l2Index = (int) (guestCluster & ((1 << l2Bits) - 1));
          long l2Offset = l2ForWrite(l1Index);
          long[] l2 = l2Table(l2Offset);
          if ((l2[l2Index] & L2_OFFSET_MASK) != 0) {
            throw new Qcow2Exception(String.format("Compressed write to guest offset %s refused: "
                + "the cluster is allocated (compressed writes go to unallocated clusters only, "
                + "as in QEMU)", hex(guestOffset + done)));
          }
          System.arraycopy(buf, off + done, cluster, 0, n);
          Arrays.fill(cluster, n, clusterSize, (byte) 0);
          int size = CompressedClusters.compress(header.compressionType, cluster, 0, clusterSize,
              packed, clusterSize);
          if (size < 0) {
            writeCluster(guestCluster, 0, buf, off + done, n);
            continue;
          }
          long host = space.allocate(size);
          queueData(host, Arrays.copyOf(packed, size), 0, size);
          setL2(l2Offset, l2, l2Index, COMPRESSED | CompressedDescriptor.encode(host, size, clusterBits));
        }
      });
    }
  }

  /** The in-memory part of a guest request: changes tables and caches, writes nothing. */
  private interface RequestPlan {
    void run() throws IOException;
  }

  /**
   * Runs a guest request in two steps: {@code plan} decides everything in memory (tables,
   * refcounts, allocations, the guest data to write) and makes every check QEMU makes when it
   * follows a pointer; then {@link #commit} checks the frees and the data writes, and only then
   * writes. So a refused request writes nothing (QEMU checks a request before its first write
   * too). On any failure the in-memory state is reloaded from the file.
   */
  private void request(RequestPlan plan) throws IOException {
    try {
      plan.run();
      commit();
    } catch (IOException | RuntimeException e) {
      if (markedDirty) {
        deferredLost = true; // the reload below forgets refcount updates the file does not have
      }
      if (!corruptEvent) {
        try {
          reloadFromDisk();
        } catch (IOException | RuntimeException reload) {
          e.addSuppressed(reload);
        }
      }
      throw e;
    }
  }

  /** A guest data write of the request being planned. */
  private record PendingWrite(long offset, byte[] buf, int off, int len) {}

  private void queueData(long host, byte[] buf, int off, int len) {
    pendingData.add(new PendingWrite(host, buf, off, len));
  }

  /** Checks every planned data write, then writes them all (before any metadata: crash order). */
  private void writePendingData() throws IOException {
    for (PendingWrite w : pendingData) {
      file.checkWrite(w.offset(), w.len(), 0);
    }
    for (PendingWrite w : pendingData) {
      file.writeUnchecked(w.offset(), w.buf(), w.off(), w.len());
    }
    pendingData.clear();
  }

  /**
   * Where guest cluster {@code cluster} can be written in place, or -1 when it needs a new
   * cluster; with QEMU's checks of the entry: an unaligned COPIED data or preallocated zero
   * cluster is refused (handle_copied), and so is any unaligned one a partial write would read
   * to complete the cluster (the copy-on-write read). An unaligned cluster a whole-cluster write
   * replaces is left alone, as QEMU does (see {@link #freeEntry}).
   */
  private long inPlaceOffset(long entry, long cluster, long guestOffset, boolean partial) throws IOException {
    Extent.Kind kind = kind(entry);
    long host = entry & L2_OFFSET_MASK;
    if ((kind == Extent.Kind.DATA || kind == Extent.Kind.ZERO) && !aligned(host)) {
      if ((entry & COPIED) != 0) {
        throw file.corruption(String.format("%s cluster offset %s unaligned (guest offset: %s)",
            kind == Extent.Kind.ZERO ? "Preallocated zero" : "Data", hex(host), hex(guestOffset)));
      }
      if (partial) {
        allocatedOffset(entry, cluster);
      }
      return -1;
    }
    return kind == Extent.Kind.DATA && owned(host) ? host : -1;
  }

  /**
   * Writes whole clusters within one L2 table with one host write per run: a run of clusters
   * owned in place at contiguous host offsets, or a run needing new clusters, allocated
   * contiguously. Returns the clusters written (0: let {@link #writeCluster} do one).
   */
  private int writeFullClusters(long cluster, byte[] buf, int off, int maxClusters) throws IOException {
    int l1Index = (int) (cluster >>> l2Bits);
    int l2Index = (int) (cluster & ((1 << l2Bits) - 1));
    long l2Offset = l2ForWrite(l1Index);
    long[] l2 = l2Table(l2Offset);
    int limit = Math.min(maxClusters, l2.length - l2Index);
    long guest = cluster << clusterBits;
    long host = inPlaceOffset(l2[l2Index], cluster, guest, false);
    int k = 0;
    if (host >= 0) {
      k = 1;
      while (k < limit && inPlaceOffset(l2[l2Index + k], cluster + k, guest + ((long) k << clusterBits), false)
          == host + ((long) k << clusterBits)) {
        k++;
      }
      file.checkInside(host, (long) k << clusterBits, "L2 entry of guest cluster", cluster);
      queueData(host, buf, off, k << clusterBits);
      for (int i = 0; i < k; i++) {
        long e = l2[l2Index + i];
        if ((e & COPIED) == 0) {
          setL2(l2Offset, l2, l2Index + i, e | COPIED);
        }
      }
      return k;
    }
    while (k < limit && inPlaceOffset(l2[l2Index + k], cluster + k, guest + ((long) k << clusterBits), false) < 0) {
      k++;
    }
    if (k < 2) {
      return 0;
    }
    long allocated = refcounts.allocate(k);
    queueData(allocated, buf, off, k << clusterBits);
    for (int i = 0; i < k; i++) {
      long old = l2[l2Index + i];
      setL2(l2Offset, l2, l2Index + i, (allocated + ((long) i << clusterBits)) | COPIED);
      freeEntry(old);
    }
    return k;
  }

  private void writeCluster(long cluster, int inCluster, byte[] buf, int off, int n) throws IOException {
    int l1Index = (int) (cluster >>> l2Bits);
    int l2Index = (int) (cluster & ((1 << l2Bits) - 1));
    long l2Offset = l2ForWrite(l1Index);
    long[] l2 = l2Table(l2Offset);
    long entry = l2[l2Index];
    long host = inPlaceOffset(entry, cluster, (cluster << clusterBits) + inCluster, n < clusterSize);
    if (host >= 0) {
      file.checkInside(host, inCluster + n, "L2 entry of guest cluster", cluster);
      queueData(host + inCluster, buf, off, n);
      if ((entry & COPIED) == 0) {
        setL2(l2Offset, l2, l2Index, entry | COPIED);
      }
      return;
    }
    byte[] data;
    int dataOff;
    if (n == clusterSize) {
      data = buf;
      dataOff = off;
    } else {
      data = new byte[clusterSize];
      dataOff = 0;
      readOldCluster(cluster, entry, data);
      System.arraycopy(buf, off, data, inCluster, n);
    }
    long allocated = refcounts.allocate(1);
    queueData(allocated, data, dataOff, clusterSize);
    setL2(l2Offset, l2, l2Index, allocated | COPIED);
    freeEntry(entry);
  }

  /** The current guest content of a cluster, for completing a partial write. */
  private void readOldCluster(long cluster, long entry, byte[] data) throws IOException {
    long guest = cluster << clusterBits;
    int valid = (int) Math.min(clusterSize, header.size - guest);
    switch (kind(entry)) {
      case DATA:
        file.read(allocatedOffset(entry, cluster), data, 0, valid);
        break;
      case COMPRESSED:
        System.arraycopy(decompress(entry, cluster), 0, data, 0, valid);
        break;
      case ZERO:
        zeroEntryOffset(entry, cluster);
        break;
      default:
        readBacking(guest, data, 0, valid);
    }
  }

  /** Queues the release of whatever host clusters an L2 entry points at. */
  private void freeEntry(long entry) {
    switch (kind(entry)) {
      case COMPRESSED: {
        long[] range = compressedRange(entry);
        refcounts.deferFree(range[0], range[1]);
        if (entry == cachedCompressedEntry) {
          cachedCompressed = null;
        }
        break;
      }
      default: {
        long host = entry & L2_OFFSET_MASK;
        // QEMU leaves an unaligned cluster alone ("Cannot free unaligned cluster", a non-fatal
        // corruption event): which cluster it meant is unknown, so it leaks rather than freeing
        // the wrong one.
        if (host != 0 && aligned(host)) {
          refcounts.deferFree(host, clusterSize);
        }
      }
    }
  }

  /**
   * Whether this image alone references the cluster at {@code offset}, so it may be written in
   * place: refcount 1, or 0 on a corrupt image (as QEMU, which trusts COPIED there, writes in place
   * and lets the overlap check catch an allocation that lands on the cluster).
   */
  private boolean owned(long offset) throws IOException {
    return Long.compareUnsigned(refcounts.get(offset >>> clusterBits), 1) <= 0;
  }

  private void setL2(long l2Offset, long[] l2, int index, long entry) {
    l2[index] = entry;
    l2Cache.markDirty(l2Offset);
  }

  /**
   * The offset of an L2 table this image alone owns for {@code l1Index}: allocated when absent,
   * copied when shared with a snapshot (refcount above 1).
   */
  private long l2ForWrite(int l1Index) throws IOException {
    long l2Offset = l2Offset(l1Index);
    if (l2Offset != 0) {
      if (owned(l2Offset)) {
        if (!l2Cache.contains(l2Offset)) {  // a cached table may be new and not written yet
          file.checkInside(l2Offset, clusterSize, "L1 entry", l1Index);
        }
        if ((l1[l1Index] & COPIED) == 0) {
          setL1(l1Index, l2Offset | COPIED);
        }
        return l2Offset;
      }
    }
    long[] copied = null;
    if (l2Offset != 0) {
      // Copy on write of a shared L2 table: its data clusters keep their refcounts (each is now
      // referenced by one more table), so no entry keeps COPIED.
      copied = l2Table(l2Offset).clone();
      for (int i = 0; i < copied.length; i++) {
        copied[i] &= ~COPIED;
      }
    }
    long newOffset = refcounts.allocate(1);
    if (newOffset == 0) {
      throw file.corruption("Preventing invalid allocation of L2 table at offset 0");
    }
    file.tracker.enter(newOffset, 1, ACTIVE_L2.mask());
    if (copied == null) {
      // A new, empty table; an evicted table's array is reused (no garbage per table).
      Arrays.fill(l2Cache.put(newOffset), 0);
    } else {
      l2Cache.putTable(newOffset, copied);
    }
    l2Cache.markDirty(newOffset);
    setL1(l1Index, newOffset | COPIED);
    if (l2Offset != 0) {
      file.tracker.remove(l2Offset, 1, ACTIVE_L2.mask());
      refcounts.deferFree(l2Offset, clusterSize);
    }
    return newOffset;
  }

  private void setL1(int index, long entry) {
    l1[index] = entry;
    l1DirtyFrom = Math.min(l1DirtyFrom, index);
    l1DirtyTo = Math.max(l1DirtyTo, index);
  }

  /**
   * Makes {@code [offset, offset + length)} read as zeros: whole clusters get the zero flag
   * (version 3) or are deallocated (version 2 without a backing file); partial clusters and
   * version 2 images with a backing file get zero data written.
   */
  public void writeZeroes(long offset, long length) throws IOException {
    try (InFlightCalls call = calls.enter("writeZeroes")) {
      writeZeroesUnguarded(offset, length);
    }
  }

  private void writeZeroesUnguarded(long offset, long length) throws IOException {
    checkWritable();
    checkRange(offset, length);
    bitmaps.guestWrite(offset, length);
    long end = offset + length;
    request(() -> {
      for (long at = offset; at < end; ) {
        long cluster = at >>> clusterBits;
        int inCluster = (int) (at & (clusterSize - 1));
        long clusterEnd = Math.min((cluster + 1) << clusterBits, header.size);
        int n = (int) Math.min(end - at, clusterEnd - at);
        boolean whole = inCluster == 0 && at + n == clusterEnd;
        if (whole && (header.version >= 3 || backing == null)) {
          long entry = header.version >= 3 ? ZERO_FLAG : 0;
          replaceEntry(cluster, entry);
        } else {
          writeCluster(cluster, inCluster, new byte[n], 0, n);
        }
        at += n;
      }
    });
  }

  /**
   * Discards whole clusters in the range (partial clusters at either end are left alone, as QEMU
   * does): they read as zeros afterwards, except on version 2 images with a backing file, where
   * they read from the backing file.
   */
  public void discard(long offset, long length) throws IOException {
    try (InFlightCalls call = calls.enter("discard")) {
      discardUnguarded(offset, length);
    }
  }

  private void discardUnguarded(long offset, long length) throws IOException {
    checkWritable();
    checkRange(offset, length);
    bitmaps.guestWrite(offset, length);
    long end = offset + length;
    long first = (offset + clusterSize - 1) >>> clusterBits;
    long last = end == header.size ? (end + clusterSize - 1) >>> clusterBits : end >>> clusterBits;
    request(() -> {
      for (long c = first; c < last; c++) {
        // As QEMU's discard_in_l2_slice: v3 keeps the cluster reading as zeros with the zero flag
        // where it was allocated or a backing file would show through; otherwise unallocated.
        long old = l2Entry(c);
        boolean allocated = kind(old) == Extent.Kind.COMPRESSED || (old & L2_OFFSET_MASK) != 0;
        replaceEntry(c, header.version >= 3 && (backing != null || allocated) ? ZERO_FLAG : 0);
      }
    });
  }

  /** Sets a whole cluster's L2 entry to a pointer-free {@code entry} (0 or the zero flag). */
  private void replaceEntry(long cluster, long entry) throws IOException {
    int l1Index = (int) (cluster >>> l2Bits);
    int l2Index = (int) (cluster & ((1 << l2Bits) - 1));
    long old = l2Entry(cluster);
    if (old == entry) {
      return;
    }
    if (entry == ZERO_FLAG && old == 0 && backing == null) {
      return;
    }
    if (entry == 0 && l2Offset(l1Index) == 0) {
      return;
    }
    long l2Offset = l2ForWrite(l1Index);
    long[] l2 = l2Table(l2Offset);
    old = l2[l2Index];
    setL2(l2Offset, l2, l2Index, entry);
    freeEntry(old);
  }

  /**
   * Grows the virtual size; the L1 table moves to new clusters when it outgrows its own.
   *
   * @throws IllegalArgumentException if {@code newSize} is smaller than the current size
   */
  public void resize(long newSize) throws IOException {
    try (InFlightCalls call = calls.enter("resize")) {
      resizeUnguarded(newSize);
    }
  }

  private void resizeUnguarded(long newSize) throws IOException {
    checkWritable();
    if (newSize < header.size) {
      throw new IllegalArgumentException(String.format(
          "Shrinking is not supported: new size %d is below the current size %d", newSize, header.size));
    }
    long needed = Header.l1EntriesFor(newSize, clusterBits);
    if (needed > Header.MAX_L1_BYTES / 8) {
      throw new IllegalArgumentException(String.format(
          "Size %d needs %d L1 entries, more than the maximum %d", newSize, needed, Header.MAX_L1_BYTES / 8));
    }
    bitmaps.checkResizable();
    if (needed > l1.length) {
      growL1((int) needed);
    }
    header.size = newSize;
    writeHeader();
    commit();
    bitmaps.resized(newSize);
  }

  // ---------------------------------------------------------------------------------------------
  // Shrinking (issue 16)

  /**
   * Shrinks the virtual size to {@code newSize}, as {@code qemu-img resize --shrink} does
   * (qcow2_co_truncate): the guest data past the new end is dropped. Every cluster from the first
   * whole cluster past the new end gets an empty L2 entry and its host clusters are released; L2
   * tables that map only past the end leave the L1 table (whose size stays, as in QEMU); the file
   * is truncated after the last cluster in use. Snapshots keep what they reference.
   *
   * @throws IllegalArgumentException if {@code newSize} is larger than the virtual size or not a
   *     multiple of 512
   */
  public void shrink(long newSize) throws IOException {
    try (InFlightCalls call = calls.enter("shrink")) {
      checkWritable();
      if (newSize < 0 || newSize > header.size) {
        throw new IllegalArgumentException(String.format(
            "Cannot shrink to %d: the virtual size is %d", newSize, header.size));
      }
      if (newSize % 512 != 0) {
        throw new IllegalArgumentException("The new size must be a multiple of 512");
      }
      bitmaps.checkResizable();
      long firstDropped = (newSize + clusterSize - 1) >>> clusterBits;
      long oldClusters = (header.size + clusterSize - 1) >>> clusterBits;
      int keptL1 = (int) Header.l1EntriesFor(newSize, clusterBits);
      request(() -> {
        for (long c = firstDropped; c < oldClusters && (c >>> l2Bits) < keptL1; c++) {
          replaceEntry(c, 0);
        }
        for (int i = keptL1; i < l1.length; i++) {
          dropL2Table(i);
        }
      });
      header.size = newSize;
      writeHeader();
      commit();
      bitmaps.resized(newSize);
      long end = refcounts.end() << clusterBits;
      if (end < file.size()) {
        file.setLength(end);
      }
    }
  }

  /**
   * Takes the L2 table of L1 entry {@code l1Index} out of the active state: one reference less for
   * each cluster it points at and for the table itself, which leaves the checker's active L2
   * tables (and is freed unless a snapshot still has it).
   */
  private void dropL2Table(int l1Index) throws IOException {
    long l2Offset = l2Offset(l1Index);
    if (l2Offset == 0) {
      return;
    }
    file.checkInside(l2Offset, clusterSize, "L1 entry", l1Index);
    boolean owned = owned(l2Offset);
    for (long entry : l2Table(l2Offset)) {
      freeEntry(entry);
    }
    file.tracker.remove(l2Offset, 1, ACTIVE_L2.mask());
    refcounts.deferFree(l2Offset, clusterSize);
    setL1(l1Index, 0);
    if (owned) {
      l2Cache.remove(l2Offset);
    }
  }

  private void growL1(int entries) throws IOException {
    commit();
    long oldOffset = header.l1Offset;
    long oldClusters = clustersFor(l1.length * 8L);
    long clusters = clustersFor(entries * 8L);
    long offset = refcounts.allocate(clusters);
    refcounts.flush();
    file.tracker.enter(offset, clusters, ACTIVE_L1.mask());
    long[] table = Arrays.copyOf(l1, entries);
    byte[] raw = new byte[(int) (clusters << clusterBits)];
    ByteBuffer.wrap(raw).asLongBuffer().put(table);
    file.write(offset, raw, 0, raw.length, ACTIVE_L1.mask());
    l1 = table;
    header.l1Offset = offset;
    header.l1Size = entries;
    writeHeader();
    if (oldClusters > 0) {
      file.tracker.remove(oldOffset, oldClusters, ACTIVE_L1.mask());
      refcounts.deferFree(oldOffset, oldClusters << clusterBits);
    }
    commit();
  }

  /**
   * Allocates a data cluster for every guest cluster that has none (QEMU's metadata
   * preallocation); with {@code zeroFill} writes zeros into them. Used by create.
   */
  void preallocate(boolean zeroFill) throws IOException {
    checkWritable();
    long clusters = (header.size + clusterSize - 1) >>> clusterBits;
    for (long c = 0; c < clusters; c++) {
      if (l2Cache.isFullOfDirty() || refcounts.isCacheFullOfDirty()) {
        writeBack();
      }
      int l1Index = (int) (c >>> l2Bits);
      int l2Index = (int) (c & ((1 << l2Bits) - 1));
      long l2Offset = l2ForWrite(l1Index);
      long[] l2 = l2Table(l2Offset);
      if (kind(l2[l2Index]) == Extent.Kind.UNALLOCATED) {
        setL2(l2Offset, l2, l2Index, refcounts.allocate(1) | COPIED);
      }
    }
    if (zeroFill) {
      byte[] zeros = new byte[Math.max(clusterSize, 1 << 20)];
      for (Extent e : map()) {
        for (long done = 0; e.kind() == Extent.Kind.DATA && done < e.length(); ) {
          int n = (int) Math.min(zeros.length, e.length() - done);
          file.write(e.hostOffset() + done, zeros, 0, n, 0);
          done += n;
        }
      }
    }
    commit();
    long end = refcounts.end() << clusterBits;
    if (file.size() < end) {
      file.setLength(end);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Lazy refcounts (issue 16; qcow2 spec: compatible bit 0, incompatible bit 0)

  /** Set once this session set the dirty bit: refcount blocks then reach the file at flush/close. */
  private boolean markedDirty;
  /** A request failed after refcount updates were deferred: no more writes (see checkWritable). */
  private boolean deferredLost;

  /**
   * Writes the dirty refcount blocks, unless the image has lazy refcounts (compat 1.1,
   * lazy_refcounts=on): then the dirty bit is set before the first table that depends on them is
   * written (QEMU's qcow2_mark_dirty in qcow2_alloc_cluster_link_l2), and they wait for {@link
   * #flush} or {@link #close}. A crash meanwhile leaves a dirty image, which opening it read/write
   * repairs (here and in QEMU).
   */
  private void flushRefcountsUnlessLazy() throws IOException {
    if (!writable || header.version < 3 || !header.lazyRefcounts()) {
      refcounts.flush();
      return;
    }
    if (!markedDirty && (l2Cache.dirtyCount() > 0 || l1DirtyTo >= 0)) {
      file.force(false);
      header.incompatible |= Header.INCOMPAT_DIRTY;
      writeHeader();
      file.force(false);
      markedDirty = true;
    }
    if (refcounts.isCacheFullOfDirty()) {
      refcounts.flush(); // deferral never holds more than the refcount cache's size
    }
  }

  /** At close: the deferred refcount blocks, then the dirty bit cleared (QEMU's qcow2_mark_clean). */
  private void markClean() throws IOException {
    if (!markedDirty || deferredLost) {
      return;
    }
    refcounts.flush();
    file.force(false);
    header.incompatible &= ~Header.INCOMPAT_DIRTY;
    writeHeader();
    markedDirty = false;
  }

  /**
   * Writes what is dirty in commit's crash-safe order (refcount blocks, then L2 tables, then L1)
   * and trims the caches, but keeps the queued refcount decrements: a long operation (metadata
   * preallocation) calls it when its caches are full of dirty tables, so memory stays bounded,
   * and no cluster it freed (an outgrown refcount table) is handed out again as a data cluster
   * whose stale bytes the guest would read.
   */
  private void writeBack() throws IOException {
    writePendingData();
    refcounts.flush();
    flushL2();
    flushL1();
    l2Cache.trim();
    refcounts.trim();
  }

  /** Writes everything dirty, in crash-safe order, then applies queued refcount decrements. */
  private void commit() throws IOException {
    refcounts.checkPendingFrees();
    writePendingData();
    flushRefcountsUnlessLazy();
    flushL2();
    flushL1();
    refcounts.applyFrees();
    flushRefcountsUnlessLazy();
    l2Cache.trim();
    refcounts.trim();
  }

  /**
   * Writes the dirty L2 tables in offset order, tables at contiguous offsets with one host write
   * (and one overlap check) of at most {@link #L2_WRITE_BYTES}, through one reused buffer.
   */
  private void flushL2() throws IOException {
    if (l2Cache.dirtyCount() == 0) {
      return;
    }
    long[] dirty = l2Cache.dirtyKeys();
    int maxRun = Math.max(1, L2_WRITE_BYTES >>> clusterBits);
    for (int i = 0; i < dirty.length; ) {
      int count = 1;
      while (i + count < dirty.length && count < maxRun
          && dirty[i + count] == dirty[i] + ((long) count << clusterBits)) {
        count++;
      }
      int bytes = count << clusterBits;
      if (l2WriteBuffer.length < bytes) {
        l2WriteBuffer = new byte[bytes];
        l2WriteLongs = ByteBuffer.wrap(l2WriteBuffer).asLongBuffer();
      }
      for (int k = 0; k < count; k++) {
        l2WriteLongs.put(k << l2Bits, l2Cache.get(dirty[i + k]));
      }
      file.write(dirty[i], l2WriteBuffer, 0, bytes, ACTIVE_L2.mask());
      i += count;
    }
    l2Cache.markAllClean();
  }

  private void flushL1() throws IOException {
    if (l1DirtyTo < 0) {
      return;
    }
    int from = l1DirtyFrom;
    int to = l1DirtyTo;
    int bytes = (to - from + 1) * 8;
    if (l1WriteBuffer.length < bytes) {
      l1WriteBuffer = new byte[Math.max(bytes, Math.min(l1.length * 8, 4096))];
      l1WriteLongs = ByteBuffer.wrap(l1WriteBuffer).asLongBuffer();
    }
    l1WriteLongs.put(0, l1, from, to - from + 1);
    file.write(header.l1Offset + from * 8L, l1WriteBuffer, 0, bytes, ACTIVE_L1.mask());
    l1DirtyFrom = Integer.MAX_VALUE;
    l1DirtyTo = -1;
  }

  private void writeHeader() throws IOException {
    byte[] h = header.encode();
    file.write(0, h, 0, h.length, MAIN_HEADER.mask());
  }

  /** The image's corruption signal, called where a check fires; returns what to throw. */
  private final class Corruption implements HostFile.CorruptionHandler {
    @Override
    public MetadataOverlapException overlap(int mask, long offset, long length) throws IOException {
      return new MetadataOverlapException(mask, offset, signalCorruption());
    }

    @Override
    public MetadataCorruptionException corruption(String event) throws IOException {
      return new MetadataCorruptionException(event, signalCorruption(), writable);
    }
  }

  /**
   * QEMU's qcow2_signal_corruption: set the corrupt bit (version 3, opened read/write) and flush
   * the header, make the image read-only, and forget in-memory state that never reached the disk.
   *
   * @return whether the corrupt bit was set
   */
  private boolean signalCorruption() throws IOException {
    corruptEvent = true;
    boolean marked = writable && header.version >= 3;
    if (marked) {
      header.incompatible |= Header.INCOMPAT_CORRUPT;
      byte[] bits = new byte[8];
      ByteBuffer.wrap(bits).putLong(header.incompatible);
      file.writeUnchecked(72, bits, 0, 8);
      file.force(false);
    }
    reloadFromDisk();
    return marked;
  }

  /**
   * Forgets what never reached the disk: back to the header's table fields, the L1 table and the
   * refcount table as the file holds them, empty caches, no planned writes, and a checker built
   * afresh from that state (a refused request may have entered or removed structures).
   */
  private void reloadFromDisk() throws IOException {
    byte[] onDisk = new byte[Header.V3_MIN_LENGTH];
    file.read(0, onDisk, 0, onDisk.length);
    ByteBuffer h = ByteBuffer.wrap(onDisk);
    int l1Size = h.getInt(36);
    int reftableClusters = h.getInt(56);
    if (l1Size >= 0 && l1Size <= Header.MAX_L1_BYTES / 8
        && reftableClusters > 0 && reftableClusters <= Header.MAX_REFTABLE_BYTES >>> clusterBits) {
      header.size = h.getLong(24);
      header.l1Size = l1Size;
      header.l1Offset = h.getLong(40);
      header.refcountTableOffset = h.getLong(48);
      header.refcountTableClusters = reftableClusters;
    }
    l2Cache.clear();
    l1DirtyFrom = Integer.MAX_VALUE;
    l1DirtyTo = -1;
    pendingData.clear();
    cachedCompressed = null;
    l1 = readL1();
    refcounts.reload();
    buildChecker();
  }

  /** Writes everything to the file and forces it to the device. */
  public void flush() throws IOException {
    try (InFlightCalls call = calls.enter("flush")) {
      flushUnguarded();
    }
  }

  private void flushUnguarded() throws IOException {
    checkOpen();
    if (writable && !corruptEvent) {
      commit();
      if (markedDirty && !deferredLost) {
        refcounts.flush(); // QEMU's flush writes its caches and keeps the dirty bit until close
      }
      file.force(true);
    }
  }

  @Override
  public void close() throws IOException {
    try (InFlightCalls call = calls.enter("close")) {
      closeUnguarded();
    }
  }

  private void closeUnguarded() throws IOException {
    if (closed) {
      return;
    }
    try {
      if (writable && !corruptEvent) {
        commit();
        if (!deferredLost) {
          // Refcounts lost their deferred updates: allocating could hand out clusters in use. The
          // bitmaps stay in use on disk, inconsistent, as after a crash.
          bitmaps.store();
        }
        markClean();
        file.force(true);
      }
    } finally {
      closed = true;
      try {
        file.close();
      } finally {
        if (backing != null) {
          backing.close();
        }
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Package-private access for the checker and the CLI (io.qcow2.format.cli goes through these).

  /** The parsed header (live: the engine updates it). */
  Header header() {
    return header;
  }

  /** A copy of the active L1 table, raw entries. */
  long[] activeL1() {
    return l1.clone();
  }

  /** A copy of the refcount table, raw entries. */
  long[] refcountTable() {
    return refcounts.table.clone();
  }

  /** The refcount of the host cluster with index {@code cluster} (through the cache). */
  long refcount(long cluster) throws IOException {
    return refcounts.get(cluster);
  }

  /** Reads a refcount block straight from the file. */
  byte[] readRefcountBlock(long offset) throws IOException {
    return refcounts.readBlock(offset);
  }

  /** Reads an L2 table straight from the file (raw entries), bypassing the cache. */
  long[] readL2Table(long offset) throws IOException {
    return readTable(offset, 1 << l2Bits);
  }

  /** Reads an L1-style table of {@code entries} entries straight from the file. */
  long[] readTableFromFile(long offset, int entries) throws IOException {
    return readTable(offset, entries);
  }

  /** The persistent dirty bitmaps (tests read their bits). */
  PersistentBitmaps bitmaps() {
    return bitmaps;
  }

  /** The snapshot table, validated at open. */
  List<Snapshot> snapshots() {
    return snapshots;
  }

  /** The backing image, or null. */
  GuestImage backing() {
    return backing;
  }

  /** Reads raw host bytes (zeros beyond the end of the file). */
  void readHost(long offset, byte[] buf, int off, int len) throws IOException {
    file.read(offset, buf, off, len);
  }

  long fileSize() throws IOException {
    return file.size();
  }

  // ---------------------------------------------------------------------------------------------

  private long clustersFor(long bytes) {
    return (bytes + clusterSize - 1) >>> clusterBits;
  }

  private boolean aligned(long offset) {
    return (offset & (clusterSize - 1)) == 0;
  }

  private void checkRange(long offset, long length) {
    checkArgument(offset >= 0 && length >= 0 && offset <= header.size && length <= header.size - offset,
        "Range [%s, +%s) is outside the image's virtual size %s", offset, length, header.size);
  }

  private void checkBackingOpened() throws Qcow2Exception {
    if (backingSkipped) {
      throw new Qcow2Exception(String.format("%s was opened without its backing file '%s': "
          + "unallocated clusters cannot be read", path, printable(header.backingFile)));
    }
  }

  private void checkOpen() throws IOException {
    if (closed) {
      throw new IOException("Image is closed: " + path);
    }
  }

  private void checkWritable() throws IOException {
    checkOpen();
    if (!writable) {
      throw new ReadOnlyImageException("Image is open read-only: " + path);
    }
    if (corruptEvent) {
      throw new ReadOnlyImageException("Image is read-only after a corruption event: " + path
          + "; repair it with 'qcow2 check -r all' or 'qemu-img check -r all'");
    }
    if (deferredLost) {
      throw new ReadOnlyImageException("Image is read-only after a failed request with lazy "
          + "refcounts (its deferred refcount updates are gone): " + path + "; reopen it "
          + "read/write, which repairs it as QEMU does, or run 'qemu-img check -r all'");
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Internal snapshots: the logic is in Snapshots; these delegate to it.

  /**
   * Creates an internal snapshot of the current guest state, as {@code qemu-img snapshot -c}.
   *
   * @return the new snapshot
   * @throws IllegalArgumentException if the name is empty, too long, or already names or identifies
   *     a snapshot
   * @throws Qcow2Exception if the image already has the maximum number of snapshots (65536) or the
   *     table would exceed 64 MiB
   */
  public SnapshotInfo createSnapshot(String name) throws IOException {
    try (InFlightCalls call = calls.enter("createSnapshot")) {
      return createSnapshotUnguarded(name);
    }
  }

  private SnapshotInfo createSnapshotUnguarded(String name) throws IOException {
    checkWritable();
    return new Snapshots(this).create(name);
  }

  /** The internal snapshots, in table order, as {@code qemu-img snapshot -l}. */
  public List<SnapshotInfo> listSnapshots() throws IOException {
    try (InFlightCalls call = calls.enter("listSnapshots")) {
      return listSnapshotsUnguarded();
    }
  }

  private List<SnapshotInfo> listSnapshotsUnguarded() throws IOException {
    checkOpen();
    return new Snapshots(this).list();
  }

  /**
   * Reverts the guest state (data and virtual size) to the snapshot with this id or, failing that,
   * this name, as {@code qemu-img snapshot -a}.
   *
   * @throws IllegalArgumentException if no snapshot has this id or name
   */
  public void applySnapshot(String idOrName) throws IOException {
    try (InFlightCalls call = calls.enter("applySnapshot")) {
      applySnapshotUnguarded(idOrName);
    }
  }

  private void applySnapshotUnguarded(String idOrName) throws IOException {
    checkWritable();
    new Snapshots(this).apply(idOrName);
  }

  /**
   * Deletes the snapshot with this id or, failing that, this name, as {@code qemu-img snapshot -d}.
   *
   * @throws IllegalArgumentException if no snapshot has this id or name
   */
  public void deleteSnapshot(String idOrName) throws IOException {
    try (InFlightCalls call = calls.enter("deleteSnapshot")) {
      deleteSnapshotUnguarded(idOrName);
    }
  }

  private void deleteSnapshotUnguarded(String idOrName) throws IOException {
    checkWritable();
    new Snapshots(this).delete(idOrName);
  }

  /** Writes everything dirty and drops cached tables, so Snapshots works on the file alone. */
  void syncForSnapshots() throws IOException {
    commit();
    refcounts.flush(); // snapshot operations read refcounts from the file, deferred or not
    l2Cache.clear();
    cachedCompressed = null;
  }

  HostFile hostFile() {
    return file;
  }

  Refcounts refcounts() {
    return refcounts;
  }

  /** The live active L1 table (not a copy). */
  long[] activeL1Live() {
    return l1;
  }

  /** Replaces the in-memory active L1 table; the caller has written it to the file. */
  void replaceActiveL1(long[] table) {
    l1 = table;
  }

  /** Grows the active L1 table to at least {@code entries} entries (moving it if needed). */
  void ensureL1Entries(int entries) throws IOException {
    if (entries > l1.length) {
      growL1(entries);
    }
  }

  /** Installs a new snapshot table (already on disk) as the one the view and the checker see. */
  void replaceSnapshots(List<Snapshot> table, long length) {
    snapshots = List.copyOf(table);
    snapshotTableLength = length;
  }

  void writeHeaderNow() throws IOException {
    writeHeader();
  }

  /** A live view of this image's metadata (for tests that build a second checker). */
  MetadataView metadataView() {
    return new View();
  }

  /** The engine's live metadata, for strategies that scan. */
  private final class View implements MetadataView {
    @Override public long activeL1Offset() { return header.l1Offset; }
    @Override public int activeL1Size() { return l1.length; }
    @Override public long activeL1Entry(int index) { return l1[index]; }
    @Override public long refcountTableOffset() { return header.refcountTableOffset; }
    // From the header, not the array: while the table grows the array is already larger, but the
    // on-disk table (and what the header says) is still the old one.
    @Override public int refcountTableSize() { return (header.refcountTableClusters << clusterBits) / 8; }
    @Override public long refcountTableEntry(int index) { return refcounts.table[index]; }
    @Override public long snapshotTableOffset() { return snapshots.isEmpty() ? 0 : header.snapshotsOffset; }
    @Override public long snapshotTableLength() { return snapshotTableLength; }
    @Override public int snapshotCount() { return snapshots.size(); }
    @Override public long snapshotL1Offset(int snapshot) { return snapshots.get(snapshot).l1Offset(); }
    @Override public int snapshotL1Size(int snapshot) { return snapshots.get(snapshot).l1Size(); }

    @Override
    public String snapshotName(int snapshot) {
      Snapshot s = snapshots.get(snapshot);
      return s.id() + " (" + s.name() + ")";
    }

    @Override
    public long[] readSnapshotL1Table(int snapshot) throws IOException {
      return readSnapshotL1(snapshot);
    }

    @Override
    public long bitmapDirectoryOffset() {
      return (header.autoclear & Header.AUTOCLEAR_BITMAPS) != 0 ? header.bitmapDirectoryOffset : 0;
    }

    @Override
    public long bitmapDirectoryLength() {
      return (header.autoclear & Header.AUTOCLEAR_BITMAPS) != 0 ? header.bitmapDirectorySize : 0;
    }

    @Override public int bitmapCount() { return bitmaps.count(); }
    @Override public long bitmapTableOffset(int bitmap) { return bitmaps.tableOffset(bitmap); }
    @Override public int bitmapTableSize(int bitmap) { return bitmaps.tableSize(bitmap); }
    @Override public long bitmapTableEntry(int bitmap, int index) { return bitmaps.tableEntry(bitmap, index); }
  }
}

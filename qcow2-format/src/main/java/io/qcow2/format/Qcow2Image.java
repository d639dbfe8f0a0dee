package io.qcow2.format;

import static com.google.common.base.Preconditions.checkArgument;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.MetadataView;
import io.qcow2.overlap.OverlapCheckOptions;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckers;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Path;
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
 * <p><b>Threads.</b> Every public method is thread-safe. In parallel with each other (shared):
 * {@link #read}, {@link #write} in place into data clusters the image alone owns (allocated,
 * COPIED, refcount 1, not compressed or zero, in an image without persistent bitmaps), {@link
 * #extentAt}, {@link #map}, {@link #info}, {@link #virtualSize}, {@link #isWritable}, and the
 * device force at the end of {@link #flush}. Alone, after the calls in flight (exclusive): a
 * {@link #write} that allocates, copies on write or sets a COPIED flag, {@link #writeCompressed},
 * {@link #writeZeroes}, {@link #discard}, {@link #resize}, {@link #shrink}, the commit part of
 * {@link #flush}, {@link #close}, the snapshot calls, and any call that meets a corruption event
 * (signalled under the exclusive lock only). A read racing a write of the same bytes returns, for
 * each byte, its old or its new value (as NBD leaves overlapping requests unordered); a write that
 * returned is seen by every read that starts afterwards, on any thread; {@link #flush} covers every
 * write that returned before it was called. {@link #overlapChecker()} is the live checker, not
 * thread-safe: use it only while no other call is in flight.
 */
public final class Qcow2Image implements Closeable, GuestImage {
  private final Path path;
  private final HostFile file;
  private final Header header;
  private final boolean writable;
  private final Refcounts refcounts;
  /** The snapshot table and the view of the metadata the overlap checker is built from. */
  private final LiveMetadata metadata;
  /** The active L1 table and the cached L2 tables. */
  private final ActiveTables tables;
  /** Where clusters come from and go: data clusters, L2 tables (copy on write), L1 growth. */
  private final ClusterAllocator allocator;
  /** Guest writes, compressed writes, zero writes and discards, planned in memory. */
  private final WritePath writes;
  /** Growing, shrinking and preallocating the virtual disk. */
  private final ImageResizer resizer;
  /** Reads and map (backing fall-through, inflating compressed clusters). */
  private final ReadPath reads;
  /** Planned guest data and dirty metadata, written in crash-safe order; lazy refcounts. */
  private final MetadataCommit commits;
  /** The persistent dirty bitmaps, live while the image is open (issue 16). */
  private final PersistentBitmaps bitmaps;
  private final GuestImage backing;
  /** Opened without its backing chain ({@link #openWithoutBacking}): reads that need it fail. */
  private final boolean backingSkipped;
  private final String strategyName;
  private final int enabledMask;
  /** QEMU's corruption signal, and the in-memory state rebuilt from the file after a failure. */
  private final CorruptionSignal corruption;
  private boolean closed;
  /** Shared: reads, in-place writes, lookups; exclusive: every other call (see the class comment). */
  private final CallLocks locks;
  /** Reads and in-place writes of owned allocated clusters under the shared lock. */
  private final AllocatedClusterIo parallel;

  /** An image over {@code io}, whose header was read and checked ({@link ImageOpener#open}). */
  Qcow2Image(Path path, HostIo io, Header header, boolean writable,
      Map<String, String> options, int depth, boolean withBacking) throws IOException {
    this.path = path;
    this.file = new HostFile(io, header.clusterSize);
    this.header = header;
    this.writable = writable;
    CacheSizes cacheSizes = CacheSizes.resolve(options, header.size, header.clusterBits);
    this.tables = new ActiveTables(file, header, cacheSizes.l2Tables());
    this.refcounts = new Refcounts(file, header, cacheSizes.refcountBlocks());
    this.bitmaps = PersistentBitmaps.load(file, header, refcounts);
    this.strategyName = OverlapCheckers.selectedName(options);
    this.enabledMask = OverlapCheckOptions.enabledMask(options);
    this.metadata = new LiveMetadata(file, header, tables, refcounts, bitmaps);
    this.commits = new MetadataCommit(file, header, tables, refcounts, writable);
    this.allocator = new ClusterAllocator(file, header, tables, refcounts, commits);
    metadata.track(options);
    this.backingSkipped = header.backingFile != null && !withBacking;
    this.backing = header.backingFile == null || !withBacking ? null
        : ImageOpener.openBacking(path, header, strategyName, depth);
    this.reads = new ReadPath(path, file, header, tables, backing, backingSkipped);
    this.writes = new WritePath(file, header, tables, allocator, commits, reads, backing != null);
    this.resizer = new ImageResizer(file, header, tables, refcounts, allocator, commits, reads, writes);
    this.corruption = new CorruptionSignal(file, header, tables, refcounts, commits, reads, metadata,
        Map.copyOf(options), writable);
    this.locks = new CallLocks(corruption);
    this.parallel = new AllocatedClusterIo(header, file, tables, refcounts, reads, locks.tableMutex);
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
    return ImageOpener.open(path, options, writable, 0, true, opener);
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
    return ImageOpener.open(path, options, false, 0, false, HostIo.FILES);
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
    ImageOpener.validateOpenOptions(options);
  }

  /** See {@link ImageOpener#checkRegularFile}. */
  static void checkRegularFile(Path path) throws IOException {
    ImageOpener.checkRegularFile(path);
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

  @Override
  public long virtualSize() {
    locks.lockShared();
    try {
      return header.size;
    } finally {
      locks.unlockShared();
    }
  }

  public int clusterSize() {
    return header.clusterSize;
  }

  /** What the header says now. */
  public ImageInfo info() {
    return locks.sharedValue(header::info);
  }

  public Path path() {
    return path;
  }

  public boolean isWritable() {
    return locks.sharedValue(() -> writable && !corruption.happened());
  }

  /**
   * The overlap checker, empty when the options select mode {@code none}. The checker is not
   * thread-safe: use it only while no other call on this image is in flight.
   */
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

  /**
   * Reads guest bytes.
   *
   * @throws IllegalArgumentException if the range is negative or ends beyond the virtual size
   */
  @Override
  public void read(long guestOffset, byte[] buf, int off, int len) throws IOException {
    locks.inParallelOrAlone(() -> {
      checkOpen();
      checkRange(guestOffset, len);
      Objects.checkFromIndexSize(off, len, buf.length);
    }, () -> parallel.read(guestOffset, buf, off, len),
        () -> reads.read(guestOffset, buf, off, len));
  }

  /**
   * The guest-to-host map of the whole image, adjacent runs of the same kind and source with
   * contiguous host offsets merged, as {@code qemu-img map} does.
   */
  public List<Extent> map() throws IOException {
    return locks.lookup(() -> {
      checkOpen();
      return reads.map();
    });
  }

  @Override
  public Extent extentAt(long guestOffset, long maxLength) throws IOException {
    return locks.lookup(() -> reads.extentAt(guestOffset, maxLength));
  }

  /**
   * Writes guest bytes.
   *
   * @throws MetadataOverlapException if a host write would land on metadata; the image is then
   *     marked corrupt and read-only
   * @throws ReadOnlyImageException if the image is read-only or a corruption event happened
   * @throws IllegalArgumentException if the range ends beyond the virtual size
   */
  public void write(long guestOffset, byte[] buf, int off, int len) throws IOException {
    locks.inParallelOrAlone(() -> {
      checkWritable();
      checkRange(guestOffset, len);
      Objects.checkFromIndexSize(off, len, buf.length);
    }, () -> parallel.write(guestOffset, buf, off, len), () -> {
      bitmaps.guestWrite(guestOffset, len); // the parallel path declines images with bitmaps
      request(() -> writes.write(guestOffset, buf, off, len));
    });
  }

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
    locks.alone(() -> {
      checkWritable();
      checkRange(guestOffset, len);
      Objects.checkFromIndexSize(off, len, buf.length);
      writes.checkCompressedRange(guestOffset, len);
      bitmaps.guestWrite(guestOffset, len);
      request(() -> writes.writeCompressed(guestOffset, buf, off, len));
    });
  }

  /**
   * Runs a guest request in two steps: {@code plan} decides everything in memory (tables,
   * refcounts, allocations, the guest data to write) and makes every check QEMU makes when it
   * follows a pointer; then {@link MetadataCommit#commit} checks the frees and the data writes, and only then
   * writes. So a refused request writes nothing (QEMU checks a request before its first write
   * too). On any failure the in-memory state is reloaded from the file.
   */
  private void request(CallLocks.Action plan) throws IOException {
    try {
      plan.run();
      commits.commit();
    } catch (IOException | RuntimeException e) {
      commits.requestFailed();
      if (!(e instanceof CorruptionEvent)) { // signalled above, which reloads
        try {
          corruption.reloadFromDisk();
        } catch (IOException | RuntimeException reload) {
          e.addSuppressed(reload);
        }
      }
      throw e;
    }
  }

  /**
   * Makes {@code [offset, offset + length)} read as zeros: whole clusters get the zero flag
   * (version 3) or are deallocated (version 2 without a backing file); partial clusters and
   * version 2 images with a backing file get zero data written.
   */
  public void writeZeroes(long offset, long length) throws IOException {
    locks.alone(() -> {
      checkWritable();
      checkRange(offset, length);
      bitmaps.guestWrite(offset, length);
      request(() -> writes.writeZeroes(offset, length));
    });
  }

  /**
   * Discards whole clusters in the range (partial clusters at either end are left alone, as QEMU
   * does): they read as zeros afterwards, except on version 2 images with a backing file, where
   * they read from the backing file.
   */
  public void discard(long offset, long length) throws IOException {
    locks.alone(() -> {
      checkWritable();
      checkRange(offset, length);
      bitmaps.guestWrite(offset, length);
      request(() -> writes.discard(offset, length));
    });
  }

  /**
   * Grows the virtual size; the L1 table moves to new clusters when it outgrows its own.
   *
   * @throws IllegalArgumentException if {@code newSize} is smaller than the current size
   */
  public void resize(long newSize) throws IOException {
    locks.alone(() -> {
      checkWritable();
      bitmaps.checkResizable();
      resizer.grow(newSize);
      bitmaps.resized(newSize);
    });
  }

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
    locks.alone(() -> {
      checkWritable();
      resizer.checkShrink(newSize);
      bitmaps.checkResizable();
      request(() -> resizer.planShrink(newSize));
      resizer.finishShrink(newSize);
      bitmaps.resized(newSize);
    });
  }

  /**
   * Allocates a data cluster for every guest cluster that has none (QEMU's metadata
   * preallocation); with {@code zeroFill} writes zeros into them. Used by create.
   */
  void preallocate(boolean zeroFill) throws IOException {
    locks.alone(() -> {
      checkWritable();
      resizer.preallocate(zeroFill);
    });
  }

  /** At a read/write open: refuses two refcount table entries naming one block. */
  void checkDistinctRefcountBlocks() throws CorruptImageException {
    refcounts.checkDistinctBlocks();
  }

  /**
   * At a read/write open: clears the autoclear features we do not maintain (spec; the bitmaps bit
   * stays when there are bitmaps: {@link PersistentBitmaps} maintains them), then marks the
   * bitmaps in use before any guest write, signalled.
   */
  void prepareForWrites() throws IOException {
    locks.alone(() -> {
      long maintained = header.bitmapCount > 0 ? Header.AUTOCLEAR_BITMAPS : 0;
      if ((header.autoclear & ~maintained) != 0) {
        header.autoclear &= maintained;
        commits.writeHeader();
      }
      bitmaps.markInUse();
    });
  }

  /** The persistent dirty bitmaps (tests read their bits). */
  PersistentBitmaps bitmaps() {
    return bitmaps;
  }

  /**
   * Writes everything to the file and forces it to the device: the commit alone, the force
   * (the slow part) in parallel with reads and in-place writes.
   */
  public void flush() throws IOException {
    locks.aloneThenShared(() -> {
      checkOpen();
      if (writable && !corruption.happened()) {
        commits.commit();
        commits.flushDeferredRefcounts();
        return true;
      }
      return false;
    }, () -> file.force(true));
  }

  @Override
  public void close() throws IOException {
    locks.alone(() -> {
      if (closed) {
        return;
      }
      try {
        if (writable && !corruption.happened()) {
          try {
            commits.commit();
            if (!commits.deferredLost()) {
              // Refcounts lost their deferred updates: allocating could hand out clusters in use. The
              // bitmaps stay in use on disk, inconsistent, as after a crash.
              bitmaps.store();
            }
            commits.markClean();
            file.force(true);
          } catch (CorruptionEvent e) {
            throw corruption.signal(e); // while the file is still open
          }
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
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Package-private access for ImageDetails and the tests

  /** The parsed header (live: the engine updates it). */
  Header header() {
    return header;
  }

  /** A copy of the active L1 table, raw entries. */
  long[] activeL1() {
    return tables.l1().clone();
  }

  /** A copy of the refcount table, raw entries. */
  long[] refcountTable() {
    return refcounts.table.clone();
  }

  /** Reads an L2 table straight from the file (raw entries), bypassing the cache. */
  long[] readL2Table(long offset) throws IOException {
    return tables.readL2TableFromFile(offset);
  }

  /** Reads an L1-style table of {@code entries} entries straight from the file. */
  long[] readTableFromFile(long offset, int entries) throws IOException {
    return tables.readTable(offset, entries);
  }

  /** The snapshot table, validated at open. */
  List<Snapshot> snapshots() {
    return metadata.snapshots();
  }

  /** A live view of this image's metadata (for tests that build a second checker). */
  MetadataView metadataView() {
    return metadata;
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

  private void checkRange(long offset, long length) {
    checkArgument(offset >= 0 && length >= 0 && offset <= header.size && length <= header.size - offset,
        "Range [%s, +%s) is outside the image's virtual size %s", offset, length, header.size);
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
    if (corruption.happened()) {
      throw new ReadOnlyImageException("Image is read-only after a corruption event: " + path
          + "; repair it with 'qcow2 check -r all' or 'qemu-img check -r all'");
    }
    if (commits.deferredLost()) {
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
    return locks.aloneQuery(() -> {
      checkWritable();
      return snapshotOperations().create(name);
    });
  }

  /** The internal snapshots, in table order, as {@code qemu-img snapshot -l}. */
  public List<SnapshotInfo> listSnapshots() throws IOException {
    return locks.aloneQuery(() -> {
      checkOpen();
      return snapshotOperations().list();
    });
  }

  /**
   * Reverts the guest state (data and virtual size) to the snapshot with this id or, failing that,
   * this name, as {@code qemu-img snapshot -a}.
   *
   * @throws IllegalArgumentException if no snapshot has this id or name
   */
  public void applySnapshot(String idOrName) throws IOException {
    locks.alone(() -> {
      checkWritable();
      snapshotOperations().apply(idOrName);
    });
  }

  /**
   * Deletes the snapshot with this id or, failing that, this name, as {@code qemu-img snapshot -d}.
   *
   * @throws IllegalArgumentException if no snapshot has this id or name
   */
  public void deleteSnapshot(String idOrName) throws IOException {
    locks.alone(() -> {
      checkWritable();
      snapshotOperations().delete(idOrName);
    });
  }

  /** The snapshot operations over this image's parts; each starts from the file (no inflated cluster kept). */
  private Snapshots snapshotOperations() {
    reads.forgetInflated();
    return new Snapshots(header, file, refcounts, tables, metadata, allocator, commits);
  }

  HostFile hostFile() {
    return file;
  }
}

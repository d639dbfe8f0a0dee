package io.qcow2.format;

import static io.qcow2.overlap.MetadataType.MAIN_HEADER;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes what a request planned, in crash-safe order: the guest data, then refcount blocks and
 * refcount table entries, L2 tables, the L1 table and the header, then the queued refcount
 * decrements. So a new cluster's refcount reaches the disk before any pointer to it, and a pointer
 * is gone before its target's refcount drops: a crash leaks at worst. With lazy refcounts (compat
 * 1.1, {@code lazy_refcounts=on}) the refcount blocks wait for flush or close behind the header's
 * dirty bit instead.
 */
final class MetadataCommit {
  private final HostFile file;
  private final Header header;
  private final ActiveTables tables;
  private final Refcounts refcounts;
  private final boolean writable;
  /** Guest data of the request being planned, written once the whole request is validated. */
  private final List<PendingWrite> pendingData = new ArrayList<>();
  /** Set once this session set the dirty bit: refcount blocks then reach the file at flush/close. */
  private boolean markedDirty;
  /** A request failed after refcount updates were deferred: no more writes (see deferredLost()). */
  private boolean deferredLost;

  MetadataCommit(HostFile file, Header header, ActiveTables tables, Refcounts refcounts, boolean writable) {
    this.file = file;
    this.header = header;
    this.tables = tables;
    this.refcounts = refcounts;
    this.writable = writable;
  }

  /** A guest data write of the request being planned. */
  private record PendingWrite(long offset, byte[] buf, int off, int len) {}

  void queueData(long host, byte[] buf, int off, int len) {
    pendingData.add(new PendingWrite(host, buf, off, len));
  }

  /** Forgets the planned data writes (the request failed). */
  void forgetPending() {
    pendingData.clear();
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

  /** Writes everything dirty, in crash-safe order, then applies queued refcount decrements. */
  void commit() throws IOException {
    refcounts.checkPendingFrees();
    writePendingData();
    flushRefcountsUnlessLazy();
    tables.flushL2();
    tables.flushL1();
    refcounts.applyFrees();
    flushRefcountsUnlessLazy();
    tables.trim();
    refcounts.trim();
  }

  /** Writes everything dirty and drops the cached L2 tables, so snapshot operations work on the file alone. */
  void syncToFile() throws IOException {
    commit();
    refcounts.flush(); // snapshot operations read refcounts from the file, deferred or not
    tables.clearCache();
  }

  /**
   * Writes what is dirty in commit's crash-safe order (refcount blocks, then L2 tables, then L1)
   * and trims the caches, but keeps the queued refcount decrements: a long operation (metadata
   * preallocation) calls it when its caches are full of dirty tables, so memory stays bounded,
   * and no cluster it freed (an outgrown refcount table) is handed out again as a data cluster
   * whose stale bytes the guest would read.
   */
  void writeBack() throws IOException {
    writePendingData();
    refcounts.flush();
    tables.flushL2();
    tables.flushL1();
    tables.trim();
    refcounts.trim();
  }

  // ---------------------------------------------------------------------------------------------
  // Lazy refcounts (issue 16; qcow2 spec: compatible bit 0, incompatible bit 0)

  /**
   * Writes the dirty refcount blocks, unless the image has lazy refcounts (compat 1.1,
   * lazy_refcounts=on): then the dirty bit is set before the first table that depends on them is
   * written (QEMU's qcow2_mark_dirty in qcow2_alloc_cluster_link_l2), and they wait for {@link
   * Qcow2Image#flush} or {@link Qcow2Image#close}. A crash meanwhile leaves a dirty image, which opening it read/write
   * repairs (here and in QEMU).
   */
  private void flushRefcountsUnlessLazy() throws IOException {
    if (!writable || header.version < 3 || !header.lazyRefcounts()) {
      refcounts.flush();
      return;
    }
    if (!markedDirty && tables.hasDirty()) {
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

  /**
   * A request failed: if refcount updates were deferred, the reload that follows forgets them,
   * so the image takes no more writes until reopened (reopening repairs it).
   */
  void requestFailed() {
    if (markedDirty) {
      deferredLost = true;
    }
  }

  /** Whether deferred refcount updates were lost (see {@link #requestFailed}). */
  boolean deferredLost() {
    return deferredLost;
  }

  /** At flush: QEMU's flush writes its caches and keeps the dirty bit until close. */
  void flushDeferredRefcounts() throws IOException {
    if (markedDirty && !deferredLost) {
      refcounts.flush();
    }
  }

  /** At close: the deferred refcount blocks, then the dirty bit cleared (QEMU's qcow2_mark_clean). */
  void markClean() throws IOException {
    if (!markedDirty || deferredLost) {
      return;
    }
    refcounts.flush();
    file.force(false);
    header.incompatible &= ~Header.INCOMPAT_DIRTY;
    writeHeader();
    markedDirty = false;
  }

  void writeHeader() throws IOException {
    byte[] h = header.encode();
    file.write(0, h, 0, h.length, MAIN_HEADER.mask());
  }
}

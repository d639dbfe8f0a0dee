package io.qcow2.format;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Map;

/**
 * What follows a failure. For a {@link CorruptionEvent}, QEMU's qcow2_signal_corruption: the
 * corrupt bit (version 3, opened read/write), the image read-only from then on, and the public
 * exception to throw. For any failed request, the in-memory state rebuilt from the file, so that
 * nothing a refused request planned survives it (the checker included).
 */
final class CorruptionSignal {
  private final HostFile file;
  private final Header header;
  private final ActiveTables tables;
  private final Refcounts refcounts;
  private final MetadataCommit commits;
  private final ReadPath reads;
  private final LiveMetadata metadata;
  /** The open options, to rebuild the checker from the file. */
  private final Map<String, String> options;
  private final boolean writable;
  private boolean happened;

  CorruptionSignal(HostFile file, Header header, ActiveTables tables, Refcounts refcounts,
      MetadataCommit commits, ReadPath reads, LiveMetadata metadata, Map<String, String> options,
      boolean writable) {
    this.file = file;
    this.header = header;
    this.tables = tables;
    this.refcounts = refcounts;
    this.commits = commits;
    this.reads = reads;
    this.metadata = metadata;
    this.options = options;
    this.writable = writable;
  }

  /** Whether a corruption event was signalled (the image then refuses writes). */
  boolean happened() {
    return happened;
  }

  /**
   * QEMU's qcow2_signal_corruption: set the corrupt bit (version 3, opened read/write) and flush
   * the header, make the image read-only, and forget in-memory state that never reached the disk.
   *
   * @return what the caller throws instead of {@code event}
   */
  Qcow2Exception signal(CorruptionEvent event) throws IOException {
    happened = true;
    boolean marked = writable && header.version >= 3;
    if (marked) {
      header.incompatible |= Header.INCOMPAT_CORRUPT;
      byte[] bits = new byte[8];
      ByteBuffer.wrap(bits).putLong(header.incompatible);
      file.writeUnchecked(72, bits, 0, 8);
      file.force(false);
    }
    reloadFromDisk();
    return event.toPublic(marked, writable);
  }

  /**
   * Forgets what never reached the disk: back to the header's table fields, the L1 table and the
   * refcount table as the file holds them, empty caches, no planned writes, and a checker built
   * afresh from that state (a refused request may have entered or removed structures).
   */
  void reloadFromDisk() throws IOException {
    byte[] onDisk = new byte[Header.V3_MIN_LENGTH];
    file.read(0, onDisk, 0, onDisk.length);
    header.resetTableFields(onDisk);
    tables.reload();
    commits.forgetPending();
    reads.forgetInflated();
    refcounts.reload();
    metadata.track(options);
  }
}

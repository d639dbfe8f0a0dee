package io.qcow2.format;

import io.qcow2.overlap.MetadataView;

/** The bits of an L1 and an L2 table entry (spec "Cluster mapping"), the one place they live. */
final class TableEntry {
  /** Offset of an L2 table in an L1 entry. */
  static final long L1_OFFSET_MASK = MetadataView.L1_OFFSET_MASK;
  /** Offset of a standard data cluster in an L2 entry. */
  static final long L2_OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;
  /** The refcount of the table or cluster is exactly one (it may be written in place). */
  static final long COPIED = 1L << 63;
  /** The L2 entry holds a compressed-cluster descriptor ({@link CompressedDescriptor}). */
  static final long COMPRESSED = 1L << 62;
  /** The cluster reads as zeros (version 3). */
  static final long ZERO_FLAG = 1L;

  private TableEntry() {}
}

package io.qcow2.format;

/**
 * One internal snapshot, as {@code qemu-img snapshot -l} lists it.
 *
 * @param id the snapshot's id string (QEMU numbers them 1, 2, ...)
 * @param name the snapshot's name (QEMU's "tag")
 * @param vmStateSize bytes of saved VM state (0 for snapshots made by qemu-img or this engine)
 * @param dateSeconds creation time, seconds since the epoch
 * @param dateNanos nanoseconds within {@code dateSeconds}
 * @param vmClockNanos guest clock at creation, nanoseconds
 * @param diskSize the guest size when the snapshot was taken, bytes
 * @param icount the instruction count recorded by QEMU's record/replay, or -1 for none
 * @param l1Size entries in the snapshot's L1 table
 */
public record SnapshotInfo(String id, String name, long vmStateSize, long dateSeconds,
    long dateNanos, long vmClockNanos, long diskSize, long icount, int l1Size) {}

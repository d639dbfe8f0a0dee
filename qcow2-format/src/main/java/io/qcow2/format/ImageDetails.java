package io.qcow2.format;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * What {@code qemu-img info} shows beyond {@link ImageInfo}: the snapshot list and the file size.
 * For the command line; the engine keeps these package-private.
 */
public final class ImageDetails {
  private ImageDetails() {}

  /**
   * One internal snapshot.
   *
   * @param id the snapshot's id string
   * @param name its name (tag)
   * @param dateSeconds creation time, seconds since the epoch
   * @param dateNanos the nanoseconds of the creation time
   * @param vmStateSize size of the saved VM state in bytes
   * @param vmClockNanos the guest clock when the snapshot was taken
   * @param icount the instruction count for record/replay, -1 when the entry has none
   * @param l1Size entries in its L1 table
   */
  public record SnapshotSummary(String id, String name, long dateSeconds, long dateNanos,
      long vmStateSize, long vmClockNanos, long icount, int l1Size) {}

  /** The image's internal snapshots, in table order. */
  public static List<SnapshotSummary> snapshots(Qcow2Image image) throws IOException {
    Objects.requireNonNull(image, "image");
    List<SnapshotSummary> summaries = new ArrayList<>();
    byte[] entry = new byte[Snapshot.HEADER_SIZE + 24];
    for (Snapshot s : image.snapshots()) {
      // The engine keeps what it needs; the clock fields are decoded from the entry again, and
      // icount is the third field of the extra data (spec "Snapshots").
      image.readHost(s.tableOffset(), entry, 0, entry.length);
      Snapshot.Head head = Snapshot.Head.decode(entry);
      long icount = head.extraSize() >= 24
          ? ByteBuffer.wrap(entry).getLong(Snapshot.HEADER_SIZE + 16) : -1;
      summaries.add(new SnapshotSummary(s.id(), s.name(), s.dateSeconds(), head.dateNanos(),
          s.vmStateSize(), head.vmClockNanos(), icount, s.l1Size()));
    }
    return summaries;
  }

  /**
   * Where a guest offset's data comes from in the backing chain, as {@code qemu-img map} reports
   * it.
   *
   * @param depth 0 for the image itself, 1 for its backing file, and so on; for a range that no
   *     layer allocates, the depth of the last layer
   * @param file the file of that layer
   */
  public record Layer(int depth, Path file) {}

  /** The layer that supplies guest byte {@code guestOffset} of {@code image}. */
  public static Layer layer(Qcow2Image image, long guestOffset) throws IOException {
    Objects.requireNonNull(image, "image");
    int depth = 0;
    Qcow2Image current = image;
    while (true) {
      Extent extent = current.extentAt(guestOffset, 1);
      if (!extent.fromBacking()) {
        return new Layer(depth, current.path());
      }
      depth++;
      GuestImage backing = current.backing();
      if (!(backing instanceof Qcow2Image next)) {
        return new Layer(depth,
            ImageOpener.resolveBacking(current.path(), current.info().backingFile()));
      }
      current = next;
    }
  }

  /** The length of the image file in bytes. */
  public static long fileSize(Qcow2Image image) throws IOException {
    return image.fileSize();
  }
}

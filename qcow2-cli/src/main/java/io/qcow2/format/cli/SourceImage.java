package io.qcow2.format.cli;

import io.qcow2.format.Extent;
import io.qcow2.format.Qcow2Image;
import java.io.Closeable;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * An image read by {@code compare} and {@code convert}: a qcow2 image through the engine or a raw
 * file, with the block status QEMU's {@code bdrv_block_status_above} gives for it.
 */
abstract class SourceImage implements Closeable {
  /** QEMU's BDRV_BLOCK_* flags (include/block/block-common.h), as {@code compare -s} compares them. */
  static final int DATA = 0x01;
  static final int ZERO = 0x02;
  static final int OFFSET_VALID = 0x04;
  static final int ALLOCATED = 0x10;
  static final int EOF = 0x20;

  /** The status of a run of guest bytes: QEMU's flags and the run's length. */
  record Status(int flags, long length) {
    boolean allocated() {
      return (flags & ALLOCATED) != 0;
    }

    boolean zero() {
      return (flags & ZERO) != 0;
    }
  }

  final Path path;

  private SourceImage(Path path) {
    this.path = path;
  }

  /** Guest bytes. */
  abstract long size();

  /** The status of the run from {@code offset} (below {@link #size()}) to at most the end. */
  abstract Status status(long offset) throws IOException;

  abstract void read(long offset, byte[] buf, int len) throws IOException;

  /** The qcow2 image under it, or null for a raw file. */
  abstract Qcow2Image qcow2();

  /**
   * Opens {@code path} read-only as {@code format} ({@code qcow2} or {@code raw}), or as what its
   * first bytes say when {@code format} is null (qemu-img's probing: the qcow2 magic, else raw).
   *
   * @throws IllegalArgumentException for another format name
   */
  static SourceImage open(Path path, String format, ImageOptions options) throws IOException {
    String chosen = format == null ? probe(path) : format;
    switch (chosen) {
      case "qcow2":
        return new Qcow2Source(path, options.open(path));
      case "raw":
        return new RawSource(path);
      default:
        throw new IllegalArgumentException(
            "Could not open '" + path + "': Unknown driver '" + chosen + "' (qcow2 reads qcow2 and raw)");
    }
  }

  private static String probe(Path path) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(path.toFile(), "r")) {
      return f.length() >= 4 && f.readInt() == 0x514649fb ? "qcow2" : "raw";
    }
  }

  private static final class Qcow2Source extends SourceImage {
    private final Qcow2Image image;
    private final boolean hasBacking;

    Qcow2Source(Path path, Qcow2Image image) {
      super(path);
      this.image = image;
      this.hasBacking = image.info().backingFile() != null;
    }

    @Override
    long size() {
      return image.virtualSize();
    }

    /*
     * qcow2_co_block_status and bdrv_co_common_block_status_above: data has an offset, compressed
     * data has none; unallocated reads as zero without a backing file, and past the end of a
     * backing file the zeros count as allocated in it. Not modelled: preallocated zero clusters
     * (QEMU adds OFFSET_VALID) and data clusters over holes of the host file (QEMU adds ZERO).
     */
    @Override
    Status status(long offset) throws IOException {
      Extent e = image.extentAt(offset, size() - offset);
      int flags;
      switch (e.kind()) {
        case DATA:
          flags = DATA | OFFSET_VALID | ALLOCATED;
          break;
        case COMPRESSED:
          flags = DATA | ALLOCATED;
          break;
        case ZERO:
          flags = ZERO | ALLOCATED;
          break;
        default:
          flags = hasBacking && !e.fromBacking() ? ZERO | ALLOCATED : ZERO;
      }
      if (e.end() == size()) {
        flags |= EOF;
      }
      return new Status(flags, e.length());
    }

    @Override
    void read(long offset, byte[] buf, int len) throws IOException {
      image.read(offset, buf, 0, len);
    }

    @Override
    Qcow2Image qcow2() {
      return image;
    }

    @Override
    public void close() throws IOException {
      image.close();
    }
  }

  /** A raw file; its guest size is its length rounded up to 512 bytes, as QEMU's. */
  private static final class RawSource extends SourceImage {
    private final FileChannel channel;
    private final long fileLength;
    private final long size;

    RawSource(Path path) throws IOException {
      super(path);
      if (!Files.isRegularFile(path) && Files.exists(path)) {
        throw new IOException("Could not open '" + path + "': not a regular file");
      }
      channel = FileChannel.open(path, StandardOpenOption.READ);
      fileLength = channel.size();
      size = (fileLength + 511) & ~511L;
    }

    @Override
    long size() {
      return size;
    }

    /* file-posix's raw_co_block_status: data or hole, always with an offset; runs end in whole sectors. */
    @Override
    Status status(long offset) throws IOException {
      long run = offset >= fileLength ? -(size - offset)
          : HostAllocation.dataRun(path, offset, fileLength);
      long length = Math.min(size - offset, (Math.abs(run) + 511) & ~511L);
      int flags = (run > 0 ? DATA : ZERO) | OFFSET_VALID | ALLOCATED;
      if (offset + length == size) {
        flags |= EOF;
      }
      return new Status(flags, length);
    }

    @Override
    void read(long offset, byte[] buf, int len) throws IOException {
      ByteBuffer bb = ByteBuffer.wrap(buf, 0, len);
      while (bb.hasRemaining()) {
        if (channel.read(bb, offset + bb.position()) < 0) {
          Arrays.fill(buf, bb.position(), len, (byte) 0);
          return;
        }
      }
    }

    @Override
    Qcow2Image qcow2() {
      return null;
    }

    @Override
    public void close() throws IOException {
      channel.close();
    }
  }
}

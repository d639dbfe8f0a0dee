package io.qcow2.format;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The image file. Every write but the corrupt bit's goes through {@link #write} (or {@link
 * #checkWrite} then {@link #writeUnchecked}), which asks the overlap checker first and, if it
 * fires, throws a {@link CorruptionEvent} instead of writing; {@link Qcow2Image} catches it and
 * signals the corruption. The parallel path's in-place data writes go through {@link
 * #writeInPlace}, checked beforehand under the table mutex. Only {@link #read}, {@link
 * #writeInPlace}, {@link #checkInside} and {@link #force} may be called by several threads at once
 * (under the image's shared lock; no exclusive call then changes the file's end).
 */
final class HostFile {
  private final HostIo io;
  /** The image's metadata tracker (the overlap checker's one owner); NONE in mode none. */
  MetadataTracker tracker = MetadataTracker.NONE;
  /** The file's length, kept up to date by our own writes (no other writer changes it). */
  private long end;

  private final long clusterSize;
  private byte[] wrappedArray;
  private ByteBuffer wrapped;

  HostFile(HostIo io, long clusterSize) throws IOException {
    this.io = io;
    this.clusterSize = clusterSize;
    this.end = io.size();
  }

  /** The host I/O underneath, for the parsers that read the file directly (header, snapshots). */
  HostIo io() {
    return io;
  }

  /**
   * Checks that a structure a table entry points at lies inside the file (up to the end of the
   * cluster holding its last byte) before it is written in place: a pointer past the end is
   * corruption, and following it would grow a sparse file without bound (an entry can point up to
   * 2^56).
   *
   * @throws CorruptImageException naming the entry ({@code what} and {@code index}) otherwise
   */
  void checkInside(long offset, long length, String what, long index) throws CorruptImageException {
    if (offset + length > ((end + clusterSize - 1) & -clusterSize)) {
      throw new CorruptImageException(String.format(
          "%s %d points at host offset 0x%x (%d bytes), beyond the end of the image file (%d bytes)",
          what, index, offset, length, end));
    }
  }

  void setLength(long length) throws IOException {
    io.setLength(length);
    end = length;
  }

  /** Reads {@code len} bytes at {@code offset}; bytes beyond the end of the file read as zero. */
  void read(long offset, byte[] buf, int off, int len) throws IOException {
    ByteBuffer bb = ByteBuffer.wrap(buf, off, len);
    while (bb.hasRemaining()) {
      int n = io.read(bb, offset + (bb.position() - off));
      if (n < 0) {
        java.util.Arrays.fill(buf, bb.position(), off + len, (byte) 0);
        return;
      }
    }
  }

  /**
   * Writes after one overlap check of the whole range, ignoring {@code ignoredTypes}.
   *
   * @throws CorruptionEvent if the check fires; nothing is written then
   */
  void write(long offset, byte[] buf, int off, int len, int ignoredTypes) throws IOException {
    checkWrite(offset, len, ignoredTypes);
    writeUnchecked(offset, buf, off, len);
  }

  /**
   * The overlap check of a write, without the write.
   *
   * @throws CorruptionEvent if the check fires
   */
  void checkWrite(long offset, long len, int ignoredTypes) throws CorruptionEvent {
    int mask = tracker.check(offset, len, ignoredTypes);
    if (mask != 0) {
      throw CorruptionEvent.overlap(mask, offset);
    }
  }

  /** A pointer failed a structural check ({@code event}, in QEMU's words): the exception to throw. */
  CorruptionEvent corruption(String event) {
    return CorruptionEvent.structural(event);
  }

  /** Writes without a check: only for the corrupt bit, which must reach the disk regardless. */
  void writeUnchecked(long offset, byte[] buf, int off, int len) throws IOException {
    ByteBuffer bb = wrap(buf, off, len);
    while (bb.hasRemaining()) {
      io.write(bb, offset + (bb.position() - off));
    }
    end = Math.max(end, offset + len);
  }

  /**
   * Writes guest data into clusters inside the file whose overlap check the caller made under the
   * image's table mutex ({@link AllocatedClusterIo}): safe from many threads at once (positional,
   * with its own buffer wrapper), and the file's end unchanged (the clusters lie inside it).
   */
  void writeInPlace(long offset, byte[] buf, int off, int len) throws IOException {
    assert offset + len <= ((end + clusterSize - 1) & -clusterSize);
    ByteBuffer bb = ByteBuffer.wrap(buf, off, len);
    while (bb.hasRemaining()) {
      io.write(bb, offset + (bb.position() - off));
    }
  }

  /**
   * {@code buf[off, off + len)} as a buffer; the engine writes its reused table buffers again and
   * again, so their wrapper is reused too (no garbage per metadata write).
   */
  private ByteBuffer wrap(byte[] buf, int off, int len) {
    if (buf != wrappedArray) {
      wrappedArray = buf;
      wrapped = ByteBuffer.wrap(buf);
    }
    wrapped.clear();
    wrapped.position(off);
    wrapped.limit(off + len);
    return wrapped;
  }

  long size() throws IOException {
    return io.size();
  }

  /** Forces written data (and with {@code metadata}, the file's metadata) to the device. */
  void force(boolean metadata) throws IOException {
    io.force(metadata);
  }

  void close() throws IOException {
    io.close();
  }
}

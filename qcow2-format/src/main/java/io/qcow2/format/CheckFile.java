package io.qcow2.format;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.Arrays;

/**
 * The image file as the check reads and repairs it. As in QEMU, bytes past the end of the file
 * read as zeros; tables are cut after their last entry inside the file, so a hostile table size
 * never allocates more than the file holds. The length is the one the check counts against: taken
 * when counting starts ({@link #refreshLength}) and moved only by {@link #grow}.
 */
final class CheckFile {
  private final FileChannel channel;
  private long length;
  /** The buffers of {@link #readL2}. */
  private long[] l2Entries;
  private ByteBuffer l2Bytes;

  CheckFile(FileChannel channel) throws IOException {
    this.channel = channel;
    this.length = channel.size();
  }

  long length() {
    return length;
  }

  /** Takes the file's length as it is now (repair writes may have grown it). */
  void refreshLength() throws IOException {
    length = channel.size();
  }

  /** {@code count} bytes from {@code offset}, zeros beyond the end of the file. */
  ByteBuffer read(long offset, int count) throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate(count);
    if (offset >= 0 && offset < length) {
      buffer.limit((int) Math.min(count, length - offset));
      while (buffer.hasRemaining() && channel.read(buffer, offset + buffer.position()) >= 0) {
        // until the buffer or the file ends
      }
      buffer.limit(count);
    }
    buffer.clear();
    return buffer;
  }

  /** Fills {@code into} from {@code offset}, zeros beyond the end of the file. */
  void readInto(byte[] into, long offset) throws IOException {
    ByteBuffer buffer = ByteBuffer.wrap(into);
    if (offset >= 0 && offset < length) {
      buffer.limit((int) Math.min(into.length, length - offset));
      while (buffer.hasRemaining() && channel.read(buffer, offset + buffer.position()) >= 0) {
        // until the buffer or the file ends
      }
    }
    Arrays.fill(into, buffer.position(), into.length, (byte) 0);
  }

  /**
   * {@code count} big-endian entries from {@code offset}; entries beyond the end of the file read
   * as zero and are not allocated: the array is cut after the last entry in the file.
   */
  long[] readTable(long offset, int count) throws IOException {
    if (count <= 0 || offset < 0 || offset >= length) {
      return new long[0];
    }
    int n = (int) Math.min(count, (length - offset + 7) / 8);
    long[] table = new long[n];
    read(offset, n * 8).asLongBuffer().get(table);
    return table;
  }

  /**
   * As {@link #readTable}, into one array reused from L2 table to L2 table (valid until the next
   * call): a check of a large image reads every table once or twice, and would otherwise leave
   * two arrays of garbage per table, which the default heap grows to absorb.
   */
  long[] readL2(long offset, int count) throws IOException {
    if (count <= 0 || offset < 0 || offset + count * 8L > length) {
      return readTable(offset, count);
    }
    if (l2Entries == null || l2Entries.length != count) {
      l2Entries = new long[count];
      l2Bytes = ByteBuffer.allocate(count * 8);
    }
    l2Bytes.clear();
    while (l2Bytes.hasRemaining()) {
      if (channel.read(l2Bytes, offset + l2Bytes.position()) < 0) {
        return readTable(offset, count);
      }
    }
    l2Bytes.flip();
    l2Bytes.asLongBuffer().get(l2Entries);
    return l2Entries;
  }

  void write(ByteBuffer buffer, long offset) throws IOException {
    while (buffer.hasRemaining()) {
      channel.write(buffer, offset + buffer.position());
    }
  }

  void writeLong(long value, long offset) throws IOException {
    write(ByteBuffer.allocate(8).putLong(0, value), offset);
  }

  /** Grows the file to {@code newLength} bytes of which the new ones are zeros. */
  void grow(long newLength) throws IOException {
    write(ByteBuffer.allocate(1), newLength - 1);
    length = newLength;
  }

  void force() throws IOException {
    channel.force(false);
  }
}

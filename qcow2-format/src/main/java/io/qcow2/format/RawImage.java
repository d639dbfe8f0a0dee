package io.qcow2.format;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** A raw backing file, read-only. */
final class RawImage implements GuestImage {
  private final FileChannel channel;
  private final long size;

  RawImage(Path path) throws IOException {
    channel = FileChannel.open(path, StandardOpenOption.READ);
    size = channel.size();
  }

  @Override
  public long virtualSize() {
    return size;
  }

  @Override
  public void read(long guestOffset, byte[] buf, int off, int len) throws IOException {
    ByteBuffer bb = ByteBuffer.wrap(buf, off, len);
    while (bb.hasRemaining()) {
      if (channel.read(bb, guestOffset + (bb.position() - off)) < 0) {
        java.util.Arrays.fill(buf, bb.position(), off + len, (byte) 0);
        return;
      }
    }
  }

  @Override
  public Extent extentAt(long guestOffset, long maxLength) {
    return new Extent(guestOffset, maxLength, Extent.Kind.DATA, guestOffset, false);
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }
}

package io.qcow2.format;

import java.io.Closeable;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;

/**
 * Positional I/O on the image file: the one way the engine touches the host file. The engine
 * receives it ({@link Opener}); tests substitute an implementation that fails or "crashes" at a
 * chosen write, or a Mockito spy, instead of hooks in the engine.
 */
interface HostIo extends Closeable {
  /** Opens the image file; read-only unless {@code writable}. */
  @FunctionalInterface
  interface Opener {
    HostIo open(Path path, boolean writable) throws IOException;
  }

  /** The production opener: a {@link RandomAccessFile}'s channel. */
  Opener FILES = (path, writable) -> new FileHostIo(new RandomAccessFile(path.toFile(), writable ? "rw" : "r"));

  /** As {@link FileChannel#read(ByteBuffer, long)}: bytes read, -1 at the end of the file. */
  int read(ByteBuffer dst, long position) throws IOException;

  /** As {@link FileChannel#write(ByteBuffer, long)}: bytes written (maybe fewer than remaining). */
  int write(ByteBuffer src, long position) throws IOException;

  long size() throws IOException;

  /** Sets the file's length (grows with zeros or truncates). */
  void setLength(long length) throws IOException;

  /** As {@link FileChannel#force(boolean)}. */
  void force(boolean metadata) throws IOException;

  /** The production implementation. */
  final class FileHostIo implements HostIo {
    private final RandomAccessFile file;
    private final FileChannel channel;

    FileHostIo(RandomAccessFile file) {
      this.file = file;
      this.channel = file.getChannel();
    }

    @Override
    public int read(ByteBuffer dst, long position) throws IOException {
      return channel.read(dst, position);
    }

    @Override
    public int write(ByteBuffer src, long position) throws IOException {
      return channel.write(src, position);
    }

    @Override
    public long size() throws IOException {
      return channel.size();
    }

    @Override
    public void setLength(long length) throws IOException {
      file.setLength(length);
    }

    @Override
    public void force(boolean metadata) throws IOException {
      channel.force(metadata);
    }

    @Override
    public void close() throws IOException {
      file.close();
    }
  }
}

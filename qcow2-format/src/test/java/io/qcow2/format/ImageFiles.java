package io.qcow2.format;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;

/** Raw edits of image files, for corruption and validation tests. */
public final class ImageFiles {
  private ImageFiles() {}

  public static long readLong(Path file, long offset) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
      f.seek(offset);
      return f.readLong();
    }
  }

  public static int readInt(Path file, long offset) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
      f.seek(offset);
      return f.readInt();
    }
  }

  public static void writeLong(Path file, long offset, long value) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.seek(offset);
      f.writeLong(value);
    }
  }

  public static void writeInt(Path file, long offset, int value) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.seek(offset);
      f.writeInt(value);
    }
  }

  public static void writeShort(Path file, long offset, int value) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.seek(offset);
      f.writeShort(value);
    }
  }

  public static void writeByte(Path file, long offset, int value) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.seek(offset);
      f.write(value);
    }
  }
}

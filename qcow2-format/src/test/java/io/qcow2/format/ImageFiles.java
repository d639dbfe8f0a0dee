package io.qcow2.format;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;

/** Raw edits of image files, for corruption and validation tests. */
final class ImageFiles {
  private ImageFiles() {}

  static long readLong(Path file, long offset) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
      f.seek(offset);
      return f.readLong();
    }
  }

  static int readInt(Path file, long offset) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
      f.seek(offset);
      return f.readInt();
    }
  }

  static void writeLong(Path file, long offset, long value) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.seek(offset);
      f.writeLong(value);
    }
  }

  static void writeInt(Path file, long offset, int value) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.seek(offset);
      f.writeInt(value);
    }
  }

  static void writeShort(Path file, long offset, int value) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.seek(offset);
      f.writeShort(value);
    }
  }

  static void writeByte(Path file, long offset, int value) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.seek(offset);
      f.write(value);
    }
  }
}

package io.qcow2.format;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Real qcow2 images made with qemu-img and qemu-io, in the configurations the integration tests
 * cover, and a reader for their tables so tests can corrupt chosen entries.
 */
public final class TestImages {
  private TestImages() {}

  /** A recipe: a name for messages and the commands that build the image in a directory. */
  public interface Recipe {
    Path build(Path dir) throws IOException;
  }

  public record Named(String name, Recipe recipe) {
    /** Builds the image in {@code dir} and returns its path. */
    public Path build(Path dir) throws IOException {
      return recipe.build(dir);
    }

    @Override
    public String toString() {
      return name;
    }
  }

  /** The images every integration test runs on. */
  public static List<Named> all() {
    List<Named> images = new ArrayList<>();
    images.add(new Named("c4k-rc16-v3-snapshots", dir -> {
      Path image = QemuTools.create(dir.resolve("a.qcow2"), "cluster_size=4096,refcount_bits=16",
          "4M");
      QemuTools.io(image, "write -P 0xab 0 64k", "write -P 0x01 1M 12k", "write -z 2M 8k");
      QemuTools.snapshot(image, "s1");
      QemuTools.io(image, "write -P 0x02 4k 8k", "write -P 0x03 3M 4k");
      QemuTools.snapshot(image, "s2");
      QemuTools.io(image, "write -P 0x04 0 4k", "discard 1M 4k");
      return image;
    }));
    images.add(new Named("c512-rc1-v3", dir -> {
      Path image = QemuTools.create(dir.resolve("a.qcow2"), "cluster_size=512,refcount_bits=1",
          "1M");
      QemuTools.io(image, "write -P 0x11 0 5k", "write -P 0x12 300k 1k", "write -z 600k 2k");
      return image;
    }));
    images.add(new Named("c64k-rc64-v3-snapshot", dir -> {
      Path image = QemuTools.create(dir.resolve("a.qcow2"), "cluster_size=65536,refcount_bits=64",
          "64M");
      QemuTools.io(image, "write -P 0x21 0 192k", "write -P 0x22 40M 64k");
      QemuTools.snapshot(image, "first");
      QemuTools.io(image, "write -P 0x23 64k 64k");
      return image;
    }));
    images.add(new Named("c64k-compat010-snapshot", dir -> {
      Path image = QemuTools.create(dir.resolve("a.qcow2"), "compat=0.10", "16M");
      QemuTools.io(image, "write -P 0x31 0 128k", "write -P 0x32 8M 4k");
      QemuTools.snapshot(image, "old");
      QemuTools.io(image, "write -P 0x33 0 4k");
      return image;
    }));
    images.add(new Named("c2k-rc8-compressed", dir -> {
      Path source = QemuTools.create(dir.resolve("src.qcow2"), "cluster_size=2048", "2M");
      QemuTools.io(source, "write -P 0x41 0 20k", "write -P 0x42 1M 7k", "write -P 0 100k 4k");
      Path image = dir.resolve("a.qcow2");
      QemuTools.run("qemu-img", "convert", "-c", "-O", "qcow2", "-o",
          "cluster_size=2048,refcount_bits=8", source.toString(), image.toString());
      QemuTools.io(image, "write -P 0x43 4k 2k");
      return image;
    }));
    images.add(new Named("c8k-backing-chain", dir -> {
      Path base = QemuTools.create(dir.resolve("base.qcow2"), "cluster_size=8192", "2M");
      QemuTools.io(base, "write -P 0x51 0 64k", "write -P 0x52 1M 16k");
      Path image = dir.resolve("a.qcow2");
      QemuTools.run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=8192", "-b",
          base.getFileName().toString(), "-F", "qcow2", image.toString());
      QemuTools.io(image, "write -P 0x53 8k 8k", "write -z 1M 8k");
      return image;
    }));
    images.add(new Named("c64k-three-level-chain", dir -> {
      Path base = QemuTools.create(dir.resolve("b0.qcow2"), "", "4M");
      QemuTools.io(base, "write -P 0x71 0 128k", "write -P 0x72 3M 64k");
      Path middle = dir.resolve("b1.qcow2");
      QemuTools.run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "b0.qcow2", "-F", "qcow2",
          middle.toString());
      QemuTools.io(middle, "write -P 0x73 64k 64k", "write -z 3M 64k");
      Path image = dir.resolve("a.qcow2");
      QemuTools.run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "b1.qcow2", "-F", "qcow2",
          image.toString());
      QemuTools.io(image, "write -z 1M 64k", "write -P 0x74 2M 64k");
      return image;
    }));
    images.add(new Named("c512-multi-cluster-l1-snapshot", dir -> {
      // 64 MiB of 512-byte clusters: a 16 KiB (32-cluster) L1 table, L2 tables spread out.
      Path image = QemuTools.create(dir.resolve("a.qcow2"), "cluster_size=512", "64M");
      QemuTools.io(image, "write -P 0x81 0 4k", "write -P 0x82 20M 2k", "write -P 0x83 63M 1k");
      QemuTools.snapshot(image, "wide");
      QemuTools.io(image, "write -P 0x84 20M 512", "write -P 0x85 40M 1k");
      return image;
    }));
    images.add(new Named("c4k-bitmaps", dir -> {
      Path image = QemuTools.create(dir.resolve("a.qcow2"), "cluster_size=4096", "4M");
      QemuTools.io(image, "write -P 0x61 0 64k");
      QemuTools.run("qemu-img", "bitmap", "--add", image.toString(), "b0");
      QemuTools.run("qemu-img", "bitmap", "--add", "-g", "65536", image.toString(), "b1");
      QemuTools.io(image, "write -P 0x62 1M 64k");
      return image;
    }));
    return images;
  }

  /** The tables of an image, read directly from its bytes. */
  public static final class Layout {
    public final Path path;
    public final int clusterBits;
    public final int refcountOrder;
    public final long l1Offset;
    public final int l1Size;
    public final long refcountTableOffset;
    public final long snapshotsOffset;
    public final int snapshotCount;

    public Layout(Path path) throws IOException {
      this.path = path;
      ByteBuffer h = ByteBuffer.wrap(Files.readAllBytes(path), 0, 104);
      clusterBits = h.getInt(20);
      l1Size = h.getInt(36);
      l1Offset = h.getLong(40);
      refcountTableOffset = h.getLong(48);
      snapshotCount = h.getInt(60);
      snapshotsOffset = h.getLong(64);
      refcountOrder = h.getInt(4) == 3 ? h.getInt(96) : 4;
    }

    public long clusterSize() {
      return 1L << clusterBits;
    }

    public long readLong(long offset) throws IOException {
      try (RandomAccessFile file = new RandomAccessFile(path.toFile(), "r")) {
        file.seek(offset);
        return file.readLong();
      }
    }

    public void writeLong(long offset, long value) throws IOException {
      try (RandomAccessFile file = new RandomAccessFile(path.toFile(), "rw")) {
        file.seek(offset);
        file.writeLong(value);
      }
    }

    /** File offsets of the non-zero entries of the 8-byte table at {@code offset}. */
    public List<Long> nonZeroEntries(long offset, long entries) throws IOException {
      List<Long> found = new ArrayList<>();
      try (RandomAccessFile file = new RandomAccessFile(path.toFile(), "r")) {
        for (long i = 0; i < entries && offset + i * 8 + 8 <= file.length(); i++) {
          file.seek(offset + i * 8);
          if (file.readLong() != 0) {
            found.add(offset + i * 8);
          }
        }
      }
      return found;
    }

    /** File offsets of the non-zero active L1 entries. */
    public List<Long> l1Entries() throws IOException {
      return nonZeroEntries(l1Offset, l1Size);
    }

    /** File offsets of the non-zero entries of every active L2 table. */
    public List<Long> l2Entries() throws IOException {
      List<Long> found = new ArrayList<>();
      for (long l1 : l1Entries()) {
        long l2 = readLong(l1) & 0x00ff_ffff_ffff_fe00L;
        found.addAll(nonZeroEntries(l2, clusterSize() / 8));
      }
      return found;
    }

    /** File offsets of the non-zero refcount table entries. */
    public List<Long> refcountTableEntries() throws IOException {
      return nonZeroEntries(refcountTableOffset, clusterSize() / 8);
    }

    public long fileLength() throws IOException {
      return Files.size(path);
    }
  }
}

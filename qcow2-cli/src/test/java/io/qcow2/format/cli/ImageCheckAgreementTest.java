package io.qcow2.format.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.qcow2.format.CheckResult;
import io.qcow2.format.ImageCheck;
import io.qcow2.format.Qcow2Exception;
import io.qcow2.format.QemuTools;
import io.qcow2.format.TestImages;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link ImageCheck} against {@code qemu-img check} on real images and on copies with chosen table
 * entries corrupted: same exit status, same corruption and leak counts.
 */
class ImageCheckAgreementTest {
  @TempDir static Path dir;

  @BeforeAll
  static void qemu() {
    QemuTools.assumeAvailable();
  }

  static Stream<TestImages.Named> images() {
    return TestImages.all().stream();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("images")
  void cleanImagesAgree(TestImages.Named recipe) throws IOException {
    Path image = recipe.recipe().build(Files.createDirectory(dir.resolve("clean-" + recipe.name())));
    CheckResult ours = ImageCheck.run(image);
    QemuTools.QemuCheck theirs = QemuTools.check(image);
    assertEquals(0, theirs.exitCode(), theirs.stderr());
    assertEquals(0, ours.exitCode(), ours.messages().toString());
    assertEquals(theirs.get("image-end-offset"), ours.imageEndOffset(), "image-end-offset");
    assertEquals(theirs.get("allocated-clusters"), ours.allocatedClusters(), "allocated-clusters");
    assertEquals(theirs.get("total-clusters"), ours.totalClusters(), "total-clusters");
    assertEquals(theirs.get("fragmented-clusters"), ours.fragmentedClusters(),
        "fragmented-clusters");
    assertEquals(theirs.get("compressed-clusters"), ours.compressedClusters(),
        "compressed-clusters");
  }

  /** A corruption: where to write which value, chosen from the image's own tables. */
  interface Mutation {
    String apply(TestImages.Layout layout, Random random) throws IOException;
  }

  static final List<Mutation> MUTATIONS = List.of(
      // An L2 entry pointing at another entry's data cluster: two references, refcount 1.
      (layout, random) -> {
        List<Long> l2 = layout.l2Entries();
        long a = l2.get(random.nextInt(l2.size()));
        long b = l2.get(random.nextInt(l2.size()));
        layout.writeLong(a, layout.readLong(b));
        return "L2 entry at " + a + " := entry at " + b;
      },
      // An L2 entry pointing at the L1 table.
      (layout, random) -> {
        List<Long> l2 = layout.l2Entries();
        long a = l2.get(random.nextInt(l2.size()));
        layout.writeLong(a, (1L << 63) | layout.l1Offset);
        return "L2 entry at " + a + " := L1 table";
      },
      // An L2 entry unaligned.
      (layout, random) -> {
        List<Long> l2 = layout.l2Entries();
        long a = l2.get(random.nextInt(l2.size()));
        long value = layout.readLong(a);
        if ((value & (1L << 62)) != 0) {
          return "skip";
        }
        layout.writeLong(a, value | 0x200);
        return "L2 entry at " + a + " unaligned";
      },
      // An L2 entry beyond the end of the file.
      (layout, random) -> {
        List<Long> l2 = layout.l2Entries();
        long a = l2.get(random.nextInt(l2.size()));
        long end = (layout.fileLength() + layout.clusterSize() * (1 + random.nextInt(8)))
            & ~(layout.clusterSize() - 1);
        layout.writeLong(a, (1L << 63) | end);
        return "L2 entry at " + a + " beyond end";
      },
      // An L2 entry cleared: its cluster leaks.
      (layout, random) -> {
        List<Long> l2 = layout.l2Entries();
        long a = l2.get(random.nextInt(l2.size()));
        layout.writeLong(a, 0);
        return "L2 entry at " + a + " cleared";
      },
      // An L1 entry's COPIED flag flipped.
      (layout, random) -> {
        List<Long> l1 = layout.l1Entries();
        long a = l1.get(random.nextInt(l1.size()));
        layout.writeLong(a, layout.readLong(a) ^ (1L << 63));
        return "L1 entry at " + a + " COPIED flipped";
      },
      // An L1 entry pointing at the refcount table.
      (layout, random) -> {
        List<Long> l1 = layout.l1Entries();
        long a = l1.get(random.nextInt(l1.size()));
        layout.writeLong(a, (1L << 63) | layout.refcountTableOffset);
        return "L1 entry at " + a + " := refcount table";
      },
      // An L1 entry unaligned.
      (layout, random) -> {
        List<Long> l1 = layout.l1Entries();
        long a = l1.get(random.nextInt(l1.size()));
        layout.writeLong(a, layout.readLong(a) + 512);
        return "L1 entry at " + a + " + 512";
      },
      // A refcount table entry unaligned, outside the image, or pointing at the header.
      (layout, random) -> {
        List<Long> rt = layout.refcountTableEntries();
        long a = rt.get(random.nextInt(rt.size()));
        long[] values = {layout.readLong(a) + 512, layout.fileLength() * 4, 0, layout.readLong(a) | 1};
        int which = random.nextInt(values.length);
        if (layout.clusterSize() == 512 && which == 0) {
          which = 1;
        }
        layout.writeLong(a, values[which]);
        return "refcount table entry at " + a + " := " + values[which];
      },
      // A stored refcount changed (the first refcount block), in its own entry width.
      (layout, random) -> {
        long block = layout.readLong(layout.refcountTableEntries().get(0)) & ~511L;
        int bits = 1 << layout.refcountOrder;
        long entries = layout.fileLength() >> layout.clusterBits;
        long index = random.nextInt((int) Math.min(entries, layout.clusterSize() * 8 / bits));
        long bitOffset = index * bits;
        long byteOffset = block + (bitOffset / 64) * 8;
        long word = layout.readLong(byteOffset);
        if (bits >= 8) {
          int shift = 64 - bits - (int) (bitOffset % 64);
          long mask = bits == 64 ? -1L : ((1L << bits) - 1) << shift;
          long value = random.nextBoolean() ? 0 : (random.nextInt(3) + 1L) << shift;
          layout.writeLong(byteOffset, (word & ~mask) | (value & mask));
        } else {
          // Sub-byte widths are little-endian within each byte.
          int byteInWord = (int) ((bitOffset % 64) / 8);
          int shift = (7 - byteInWord) * 8 + (int) (bitOffset % 8);
          layout.writeLong(byteOffset, word ^ (1L << shift));
        }
        return "refcount of cluster " + index + " changed";
      },
      // A snapshot's L1 offset unaligned or pointing at the active L1 table.
      (layout, random) -> {
        if (layout.snapshotCount == 0) {
          return "skip";
        }
        long entry = layout.snapshotsOffset;
        long value = random.nextBoolean() ? layout.readLong(entry) + 512 : layout.l1Offset;
        layout.writeLong(entry, value);
        return "snapshot 0 L1 offset := " + value;
      });

  static Stream<Object[]> corruptions() {
    return images().flatMap(image -> {
      Stream.Builder<Object[]> cases = Stream.builder();
      for (int m = 0; m < MUTATIONS.size(); m++) {
        for (int seed = 0; seed < 3; seed++) {
          cases.add(new Object[] {image, m, seed});
        }
      }
      return cases.build();
    });
  }

  private static final java.util.Map<String, Path> BUILT = new java.util.concurrent.ConcurrentHashMap<>();

  private static Path built(TestImages.Named recipe) throws IOException {
    Path image = BUILT.get(recipe.name());
    if (image == null) {
      image = recipe.recipe().build(Files.createDirectory(dir.resolve("base-" + recipe.name())));
      BUILT.put(recipe.name(), image);
    }
    return image;
  }

  @ParameterizedTest(name = "{0} mutation {1} seed {2}")
  @MethodSource("corruptions")
  void corruptedImagesAgree(TestImages.Named recipe, int mutation, int seed) throws IOException {
    Path base = built(recipe);
    // Next to the original, so that a relative backing file name still resolves.
    Path copy = base.resolveSibling("m" + mutation + "-s" + seed + ".qcow2");
    Files.copy(base, copy);
    String what = MUTATIONS.get(mutation).apply(new TestImages.Layout(copy), new Random(seed));
    QemuTools.QemuCheck theirs = QemuTools.check(copy);
    CheckResult ours;
    try {
      ours = ImageCheck.run(copy, 1000);
    } catch (Qcow2Exception e) {
      assertEquals(1, theirs.exitCode(), what + ": we failed to open (" + e.getMessage()
          + ") but qemu-img check did not:\n" + theirs.stderr());
      return;
    }
    String context = what + "\nqemu-img: " + theirs.fields() + "\n" + theirs.stderr()
        + "\nours: " + ours + "\n" + String.join("\n", ours.messages());
    assertEquals(theirs.exitCode(), ours.exitCode(), "exit code: " + context);
    if (theirs.exitCode() != 1) {
      // The report as the command line prints it, and the messages, are qemu-img's.
      QemuTools.Output human = QemuTools.exec("qemu-img", "check", "-f", "qcow2", copy.toString());
      java.io.StringWriter out = new java.io.StringWriter();
      java.io.StringWriter err = new java.io.StringWriter();
      Qcow2Command.execute(new String[] {"check", "--max-messages=100000",
          copy.toString()}, new java.io.PrintWriter(out), new java.io.PrintWriter(err));
      assertEquals(human.stdout(), out.toString(), "report: " + context);
      assertEquals(human.stderr().lines().sorted().toList(),
          err.toString().lines().sorted().toList(), "messages: " + context);
      assertEquals(theirs.get("corruptions"), ours.corruptions(), "corruptions: " + context);
      assertEquals(theirs.get("leaks"), ours.leaks(), "leaks: " + context);
      assertEquals(theirs.get("image-end-offset"), ours.imageEndOffset(), "end: " + context);
    }
  }
}

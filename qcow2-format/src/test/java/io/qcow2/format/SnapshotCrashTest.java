package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The process "dies" before the n-th host write of a workload of snapshot creates, applies and
 * deletes mixed with writes, for every n: {@code qemu-img check} finds leaks at worst, never an
 * error, not even a COPIED flag out of step with its refcount (QEMU 7.2 leaves thousands of
 * those): new tables and copies of the refcount blocks they change are written to new clusters
 * and one header write switches to all of them ({@link RefcountShadow}); what the switch leaves
 * unreferenced is freed after it. A snapshot operation is also all or nothing: after a crash in
 * it the guest content and the snapshot list are those before it or those after it. The crash is
 * injected by the {@link CrashingOverlapChecker} strategy.
 */
class SnapshotCrashTest {
  @TempDir Path dir;

  /**
   * {@code madeBy}: {@code engine} builds the base image with this engine; {@code qemu} with
   * qemu-img and qemu-io, so that the snapshot "old" is QEMU's (its L1 copy keeps COPIED flags).
   */
  @ParameterizedTest(name = "cluster_size={0} base made by {1}")
  @CsvSource({"512, engine", "65536, engine", "4096, qemu"})
  void aCrashDuringSnapshotOperationsLeaksAtWorst(int clusterSize, String madeBy)
      throws Exception {
    QemuTools.assumeAvailable();
    Path base = dir.resolve("base.qcow2");
    if (madeBy.equals("qemu")) {
      QemuTools.create(base, "cluster_size=" + clusterSize, "1M");
      QemuTools.io(base, "write -P 0x5a 0 100000", "write -P 0x5b 600k 8k");
      QemuTools.snapshot(base, "old");
      QemuTools.io(base, "write -P 0x5c 4k 4k");
    } else {
      try (Qcow2Image image = Qcow2Image.create(base, 1 << 20,
          Map.of("cluster_size", Integer.toString(clusterSize)), TestOptions.open())) {
        image.write(0, new byte[100_000], 0, 100_000);
        image.createSnapshot("old");
      }
    }
    Path img = dir.resolve("crash.qcow2");
    Files.copy(base, img);
    List<Step> steps = workload();
    // The states between the steps: host writes before each step, guest content and snapshot
    // names after it (index 0: before the first step).
    long[] writesBefore = new long[steps.size() + 1];
    List<byte[]> contents = new ArrayList<>();
    List<List<String>> names = new ArrayList<>();
    long total;
    try (Qcow2Image image = Qcow2Image.open(img, CrashingOverlapChecker.options(), true)) {
      CrashingOverlapChecker.crashBefore(Long.MAX_VALUE);
      contents.add(guest(image));
      names.add(names(image));
      for (int i = 0; i < steps.size(); i++) {
        writesBefore[i] = Long.MAX_VALUE - CrashingOverlapChecker.checksLeft();
        steps.get(i).run(image);
        contents.add(guest(image));
        names.add(names(image));
      }
      total = Long.MAX_VALUE - CrashingOverlapChecker.checksLeft();
      writesBefore[steps.size()] = total;
    }
    QemuTools.checkClean(img);
    assertTrue(total > 20, "workload too small: " + total + " writes");
    int leakingPoints = 0;
    for (long n = 0; n < total; n++) {
      Files.copy(base, img, StandardCopyOption.REPLACE_EXISTING);
      Qcow2Image image = Qcow2Image.open(img, CrashingOverlapChecker.options(), true);
      CrashingOverlapChecker.crashBefore(n);
      try {
        for (Step step : steps) {
          step.run(image);
        }
        fail("no crash after " + n + " of " + total + " writes");
      } catch (CrashingOverlapChecker.SimulatedCrash expected) {
        // The process died before write n. Closing cannot write anything either (every write
        // fails from now on); it only releases the file.
        try {
          image.close();
        } catch (CrashingOverlapChecker.SimulatedCrash alsoDead) {
          // the write-back on close died too
        }
      } finally {
        CrashingOverlapChecker.crashBefore(Long.MAX_VALUE);
      }
      QemuTools.Output r = QemuTools.execMerged("qemu-img", "check", img.toString());
      if (r.exitCode() != 0 && r.exitCode() != 3) {
        fail("crash before write " + n + " of " + total + ": qemu-img check exit " + r.exitCode()
            + "\n" + r.stdout());
      }
      if (r.exitCode() == 3) {
        leakingPoints++;
      }
      int step = 0;
      while (writesBefore[step + 1] <= n) {
        step++;
      }
      if (steps.get(step).snapshotOperation()) {
        // A snapshot operation is all or nothing: the guest sees the state before or after it,
        // the snapshot list is the one before or after it.
        try (Qcow2Image after = Qcow2Image.open(img, TestOptions.open(), false)) {
          byte[] guest = guest(after);
          List<String> list = names(after);
          String where = "crash before write " + n + " of " + total + " in " + steps.get(step);
          assertTrue(Arrays.equals(guest, contents.get(step))
              || Arrays.equals(guest, contents.get(step + 1)), where + ": guest content");
          assertTrue(list.equals(names.get(step)) || list.equals(names.get(step + 1)),
              where + ": snapshots " + list);
        }
      }
    }
    System.out.printf("cluster_size=%d, base by %s: %d host writes, %d crash points leak, none "
        + "corrupts%n", clusterSize, madeBy, total, leakingPoints);
  }

  /** One call of the workload. */
  private record Step(String name, boolean snapshotOperation, Action action) {
    void run(Qcow2Image image) throws IOException {
      action.run(image);
    }

    @Override
    public String toString() {
      return name;
    }
  }

  private interface Action {
    void run(Qcow2Image image) throws IOException;
  }

  private static byte[] guest(Qcow2Image image) throws IOException {
    byte[] all = new byte[(int) image.virtualSize()];
    image.read(0, all, 0, all.length);
    return all;
  }

  private static List<String> names(Qcow2Image image) throws IOException {
    return image.listSnapshots().stream().map(SnapshotInfo::name).toList();
  }

  private static List<Step> workload() {
    return List.of(
        new Step("create a", true, image -> image.createSnapshot("a")),
        new Step("write at 1000", false, image -> write(image, 1000)),
        new Step("create b", true, image -> image.createSnapshot("b")),
        new Step("write at 300000", false, image -> write(image, 300_000)),
        new Step("apply old", true, image -> image.applySnapshot("old")),
        new Step("write at 50000", false, image -> write(image, 50_000)),
        new Step("delete a", true, image -> image.deleteSnapshot("a")),
        new Step("apply b", true, image -> image.applySnapshot("b")),
        new Step("delete old", true, image -> image.deleteSnapshot("old")),
        new Step("delete b", true, image -> image.deleteSnapshot("b")));
  }

  private static void write(Qcow2Image image, long offset) throws IOException {
    byte[] data = new byte[3 * image.clusterSize() + 5];
    Arrays.fill(data, (byte) 0x42);
    image.write(offset, data, 0, data.length);
  }
}

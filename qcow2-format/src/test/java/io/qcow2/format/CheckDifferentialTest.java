package io.qcow2.format;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ImageCheck} against {@code qemu-img check} on randomly corrupted copies of small real
 * images (the mutations of {@link MutationFuzzTest}): same exit status and, when the check ran,
 * the same corruption and leak counts, image end offset, allocated and fragmented clusters, and
 * the same messages. Seeded: {@code -Dcheck.diff.seed=N}, {@code
 * -Dcheck.diff.cases=N}.
 */
class CheckDifferentialTest {
  private static final long SEED = Long.getLong("check.diff.seed", 5L);
  private static final int CASES = Integer.getInteger("check.diff.cases", 400);

  @TempDir Path dir;

  private static final String LEAK_HINT =
      "Some clusters may be leaked, run 'qemu-img check -r' on the image file to fix.";

  /**
   * qemu-img's check messages, sorted: without the warnings its open prints (an ignored bitmap
   * extension), which are not findings of the check.
   */
  static java.util.List<String> checkMessages(String stderr) {
    return stderr.lines()
        .filter(line -> !line.startsWith("qemu-img: warning:"))
        .map(line -> line.startsWith(LEAK_HINT) ? line.substring(LEAK_HINT.length()) : line)
        .filter(line -> !line.isEmpty())
        .sorted()
        .toList();
  }

  @Test
  void randomCorruptionsGetQemuImgsVerdict() throws IOException {
    QemuTools.assumeAvailable();
    List<MutationFuzzTest.Base> bases = MutationFuzzTest.bases(dir);
    Path image = dir.resolve("case.qcow2");
    List<String> failures = new ArrayList<>();
    for (int c = 0; c < CASES; c++) {
      Random random = new Random(SEED * 1_000_003 + c);
      MutationFuzzTest.Base base = bases.get(random.nextInt(bases.size()));
      byte[] bytes = base.bytes().clone();
      StringBuilder what = new StringBuilder(base.name());
      int mutations = 1 + random.nextInt(2);
      for (int m = 0; m < mutations; m++) {
        what.append("; ").append(MutationFuzzTest.mutate(bytes, base.layout(), random));
      }
      Files.write(image, bytes);
      QemuTools.QemuCheck theirs = QemuTools.check(image);
      String verdict;
      int ourExit;
      try {
        CheckResult ours = ImageCheck.run(image, 100_000);
        ourExit = ours.exitCode();
        verdict = ours.exitCode() == 1
            ? "exit 1" : "exit " + ours.exitCode() + " corruptions " + ours.corruptions()
                + " leaks " + ours.leaks() + " end " + ours.imageEndOffset() + " allocated "
                + ours.allocatedClusters() + " fragmented " + ours.fragmentedClusters();
        if (ourExit != 1) {
          verdict += " messages " + ours.messages().stream().sorted().toList();
        } else {
          verdict += " " + ours.messages().stream().limit(3).toList();
        }
      } catch (Qcow2Exception e) {
        ourExit = 1;
        verdict = "exit 1 (" + e.getMessage() + ")";
      }
      String expected = theirs.exitCode() == 1
          ? "exit 1" : "exit " + theirs.exitCode() + " corruptions " + theirs.get("corruptions")
              + " leaks " + theirs.get("leaks") + " end " + theirs.get("image-end-offset")
              + " allocated " + theirs.get("allocated-clusters") + " fragmented "
              + theirs.get("fragmented-clusters") + " messages " + checkMessages(theirs.stderr());
      boolean same = ourExit == theirs.exitCode() && (ourExit == 1 || verdict.equals(expected));
      if (!same) {
        failures.add("case " + c + " (" + what + "): qemu-img " + expected + " "
            + theirs.stderr().lines().limit(3).toList() + ", ours " + verdict);
      }
    }
    if (!failures.isEmpty()) {
      fail(failures.size() + " of " + CASES + " disagree (seed " + SEED + "):\n"
          + String.join("\n", failures));
    }
  }
}

package io.qcow2.format.cli;

import io.qcow2.format.CheckResult;
import io.qcow2.format.ImageCheck;
import io.qcow2.format.RepairMode;
import io.qcow2.format.RepairResult;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code qcow2 check [-r leaks|all] [--output=human|json] IMAGE}: {@code qemu-img check}, read-only
 * unless {@code -r} repairs. Exit status as qemu-img: 0 clean, 1 the check failed to run, 2
 * corruptions, 3 leaks only (after a repair: what is left), 63 not a qcow2 image.
 */
@Command(name = "check", mixinStandardHelpOptions = true,
    description = "Check the image's metadata for corruptions and leaks; repair them with -r.",
    footer = "Exit status: 0 clean, 1 check failed, 2 corruptions found, 3 leaks only, "
        + "63 the image format does not support checks (not qcow2).")
final class CheckCommand implements Callable<Integer> {
  /** qemu-img's exit status when the image format has no check: any file that is not qcow2. */
  static final int EXIT_UNSUPPORTED = 63;
  private static final byte[] QCOW2_MAGIC = {'Q', 'F', 'I', (byte) 0xfb};

  @Spec CommandSpec spec;
  @Mixin ImageOptions imageOptions;

  @Option(names = "--output", paramLabel = "human|json", defaultValue = "human",
      description = "Output format: ${COMPLETION-CANDIDATES}.")
  OutputFormat output;

  @Option(names = "--max-messages", paramLabel = "N", defaultValue = "100",
      description = "Print at most N detailed messages (default: ${DEFAULT-VALUE}).")
  int maxMessages;

  @Option(names = "-r", paramLabel = "leaks|all",
      description = "Repair: 'leaks' frees leaked clusters, 'all' also fixes corruptions "
          + "(refcounts, COPIED flags; rebuilds the refcount structure if needed).")
  String repair;

  @Parameters(paramLabel = "IMAGE") Path image;

  @Override
  public Integer call() throws IOException {
    // The check reads the file itself, without the engine's overlap checker; the options are
    // still validated so that a typo fails here as it would on any other command.
    imageOptions.validatedWithoutOpening();
    if (maxMessages < 0) {
      throw new IllegalArgumentException("--max-messages must be >= 0: " + maxMessages);
    }
    RepairMode mode = repair == null ? null : RepairMode.of(repair);
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    // A regular file that is not qcow2 gets qemu-img's answer; anything else (a directory, a device)
    // is refused by the check with what it is, as by every other command (qemu-img probes a device
    // as raw and answers 63).
    if (Files.isRegularFile(image) && !isQcow2(image)) {
      err.println("qcow2: This image format does not support checks");
      return EXIT_UNSUPPORTED;
    }
    if (mode == null) {
      CheckResult result = ImageCheck.run(image, maxMessages);
      printMessages(err, result);
      return report(out, err, result, 0, 0);
    }
    RepairResult repaired = ImageCheck.repair(image, mode, maxMessages);
    printMessages(err, repaired.repairPass());
    if (repaired.failure() != null) {
      err.println("qcow2: Check failed: " + repaired.failure());
      return CheckResult.EXIT_CHECK_FAILED;
    }
    if (repaired.repairedAnything()) {
      if (output == OutputFormat.human) {
        out.printf("The following inconsistencies were found and repaired:%n%n"
            + "    %d leaked clusters%n    %d corruptions%n%n"
            + "Double checking the fixed image now...%n",
            repaired.leaksFixed(), repaired.corruptionsFixed());
        out.flush();
      }
      printMessages(err, repaired.result());
    }
    return report(out, err, repaired.result(), repaired.leaksFixed(),
        repaired.corruptionsFixed());
  }

  /** Whether {@code image} starts with the qcow2 magic (qemu-img probes anything else as raw). */
  private static boolean isQcow2(Path image) throws IOException {
    try (InputStream in = Files.newInputStream(image)) {
      return Arrays.equals(in.readNBytes(4), QCOW2_MAGIC);
    }
  }

  /** Like qemu-img, the detailed messages go to standard error, the report to standard output. */
  private static void printMessages(PrintWriter err, CheckResult result) {
    for (String message : result.messages()) {
      err.println(message);
    }
    if (result.messageCount() > result.messages().size()) {
      err.printf("(%d more messages not shown)%n", result.messageCount() - result.messages().size());
    }
    err.flush();
  }

  private int report(PrintWriter out, PrintWriter err, CheckResult result, long leaksFixed,
      long corruptionsFixed) {
    if (output == OutputFormat.json) {
      out.println(Json.render(json(result, leaksFixed, corruptionsFixed)));
    } else {
      printHuman(out, result);
    }
    if (result.checkErrors() > 0) {
      out.flush();
      err.println("qcow2: Check failed"); // as qemu-img, after the report
    }
    return result.exitCode();
  }

  /**
   * qemu-img's members (zero counts left out, as qemu-img does) in the order its JSON output
   * lists them (QEMU's QDict hash order), then the messages.
   */
  private Map<String, Object> json(CheckResult result, long leaksFixed, long corruptionsFixed) {
    Map<String, Object> json = new LinkedHashMap<>();
    putNonZero(json, "image-end-offset", result.imageEndOffset());
    putNonZero(json, "compressed-clusters", result.compressedClusters());
    putNonZero(json, "total-clusters", result.totalClusters());
    putNonZero(json, "corruptions", result.corruptions());
    putNonZero(json, "corruptions-fixed", corruptionsFixed);
    json.put("check-errors", result.checkErrors());
    putNonZero(json, "leaks", result.leaks());
    putNonZero(json, "leaks-fixed", leaksFixed);
    putNonZero(json, "allocated-clusters", result.allocatedClusters());
    json.put("filename", image.toString());
    json.put("format", "qcow2");
    putNonZero(json, "fragmented-clusters", result.fragmentedClusters());
    json.put("messages", result.messages());
    return json;
  }

  private static void putNonZero(Map<String, Object> json, String key, long value) {
    if (value != 0) {
      json.put(key, value);
    }
  }

  /**
   * {@code part * 100 / whole} as C's {@code "%0.2f"} prints it: the exact binary value rounded
   * half to even (3.125 prints as 3.12, where Java's formatter would print 3.13).
   */
  static String percent(long part, long whole) {
    return new BigDecimal(part * 100.0 / whole).setScale(2, RoundingMode.HALF_EVEN)
        .toPlainString();
  }

  /** qemu-img's dump_human_image_check. */
  private static void printHuman(PrintWriter out, CheckResult r) {
    if (r.isClean()) {
      out.println("No errors were found on the image.");
    } else {
      if (r.corruptions() > 0) {
        out.printf("%n%d errors were found on the image.%n"
            + "Data may be corrupted, or further writes to the image may corrupt it.%n",
            r.corruptions());
      }
      if (r.leaks() > 0) {
        out.printf("%n%d leaked clusters were found on the image.%n"
            + "This means waste of disk space, but no harm to data.%n", r.leaks());
      }
      if (r.checkErrors() > 0) {
        out.printf("%n%d internal errors have occurred during the check.%n", r.checkErrors());
      }
    }
    if (r.totalClusters() != 0 && r.allocatedClusters() != 0) {
      out.printf("%d/%d = %s%% allocated, %s%% fragmented, %s%% compressed clusters%n",
          r.allocatedClusters(), r.totalClusters(),
          percent(r.allocatedClusters(), r.totalClusters()),
          percent(r.fragmentedClusters(), r.allocatedClusters()),
          percent(r.compressedClusters(), r.allocatedClusters()));
    }
    if (r.imageEndOffset() != 0) {
      out.println("Image end offset: " + r.imageEndOffset());
    }
  }
}

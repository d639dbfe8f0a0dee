package io.qcow2.format.cli;

import io.qcow2.format.Qcow2Image;
import io.qcow2.format.SnapshotInfo;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code qcow2 snapshot -c NAME | -l | -a NAME | -d NAME IMAGE}: internal snapshots, as {@code
 * qemu-img snapshot}. {@code -a} and {@code -d} take an id or a name (ids first, as QEMU).
 */
@Command(name = "snapshot", mixinStandardHelpOptions = true,
    description = "Create, list, apply or delete internal snapshots.")
final class SnapshotCommand implements Callable<Integer> {
  private static final DateTimeFormatter DATE =
      DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss").withZone(ZoneId.systemDefault());

  @Spec CommandSpec spec;
  @Mixin ImageOptions imageOptions;

  @ArgGroup(exclusive = true, multiplicity = "1")
  Action action;

  static final class Action {
    @Option(names = "-c", paramLabel = "NAME", description = "Create a snapshot named NAME.")
    String create;

    @Option(names = "-l", description = "List the snapshots.")
    boolean list;

    @Option(names = "-a", paramLabel = "NAME", description = "Apply (revert to) a snapshot.")
    String apply;

    @Option(names = "-d", paramLabel = "NAME", description = "Delete a snapshot.")
    String delete;
  }

  @Parameters(paramLabel = "IMAGE") Path image;

  @Override
  public Integer call() throws IOException {
    try (Qcow2Image opened = Qcow2Image.open(image, imageOptions.options(), !action.list)) {
      if (action.list) {
        print(spec.commandLine().getOut(), opened);
      } else if (action.create != null) {
        opened.createSnapshot(action.create);
      } else if (action.apply != null) {
        opened.applySnapshot(action.apply);
      } else {
        opened.deleteSnapshot(action.delete);
      }
    }
    return 0;
  }

  /** qemu-img's table (block/qapi.c, bdrv_snapshot_dump), empty output without snapshots. */
  private static void print(PrintWriter out, Qcow2Image image) throws IOException {
    var snapshots = image.listSnapshots();
    if (snapshots.isEmpty()) {
      return;
    }
    out.println("Snapshot list:");
    out.printf("%-10s%-17s%8s%20s%13s%11s%n", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT");
    for (SnapshotInfo s : snapshots) {
      long clock = s.vmClockNanos() / 1_000_000;
      String vmClock = String.format("%02d:%02d:%02d.%03d", clock / 3_600_000,
          (clock / 60_000) % 60, (clock / 1000) % 60, clock % 1000);
      String icount = s.icount() == -1 ? "" : Long.toString(s.icount());
      out.printf("%-9s %-16s %8s%20s%13s%11s%n", s.id(), s.name(), Sizes.human(s.vmStateSize()),
          DATE.format(Instant.ofEpochSecond(s.dateSeconds())), vmClock, icount);
    }
  }
}

package io.qcow2.format.cli;

import io.qcow2.format.Extent;
import io.qcow2.format.ImageDetails;
import io.qcow2.format.Qcow2Image;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code qcow2 map [--output=human|json] IMAGE}: guest-to-host extents with {@code qemu-img map}'s
 * fields: start, length, depth, present, zero, data, offset.
 */
@Command(name = "map", mixinStandardHelpOptions = true,
    description = "Show where each guest range is stored, like qemu-img map.")
final class MapCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin ImageOptions imageOptions;

  @Option(names = "--output", paramLabel = "human|json", defaultValue = "human",
      description = "Output format: ${COMPLETION-CANDIDATES}.")
  OutputFormat output;

  @Parameters(paramLabel = "IMAGE") Path image;

  /** One extent as qemu-img reports it; offset -1 when it has none. */
  record Row(long start, long length, int depth, boolean present, boolean zero, boolean data,
      long offset, Path file) {
    /** qemu-img merges neighbours that agree on everything and continue the host offset. */
    boolean continuedBy(Row next) {
      return depth == next.depth && present == next.present && zero == next.zero
          && data == next.data && start + length == next.start
          && (offset < 0 ? next.offset < 0 : offset + length == next.offset);
    }

    Map<String, Object> json() {
      Map<String, Object> json = new LinkedHashMap<>();
      json.put("start", start);
      json.put("length", length);
      json.put("depth", depth);
      json.put("present", present);
      json.put("zero", zero);
      json.put("data", data);
      if (offset >= 0) {
        json.put("offset", offset);
      }
      return json;
    }
  }

  @Override
  public Integer call() throws IOException {
    // Rows are printed as they are found: memory stays bounded whatever the size of the image.
    try (Qcow2Image opened = imageOptions.open(image)) {
      PrintWriter out = spec.commandLine().getOut();
      if (output == OutputFormat.json) {
        out.print("[");
        boolean[] first = {true};
        forEachRow(opened, row -> {
          out.print(first[0] ? "" : ",\n");
          out.print(Json.renderInline(row.json()));
          first[0] = false;
        });
        out.println("]");
      } else {
        out.printf("%-16s%-16s%-16s%s%n", "Offset", "Length", "Mapped to", "File");
        forEachRow(opened, row -> {
          if (row.data && row.offset >= 0) {
            out.printf("%-16s%-16s%-16s%s%n", hex(row.start), hex(row.length), hex(row.offset),
                row.depth == 0 ? image : row.file);
          }
        });
      }
    }
    return 0;
  }

  /** Receives the rows of {@link #forEachRow}, in guest order. */
  interface RowSink {
    void accept(Row row) throws IOException;
  }

  /**
   * The image's extents as qemu-img's rows, merged as qemu-img merges them: each run the engine
   * reports, with the depth in the backing chain of the layer that supplies it.
   */
  static List<Row> rows(Qcow2Image image) throws IOException {
    List<Row> rows = new ArrayList<>();
    forEachRow(image, rows::add);
    return rows;
  }

  /** The rows of {@link #rows}, handed to {@code sink} one by one as each is complete. */
  static void forEachRow(Qcow2Image image, RowSink sink) throws IOException {
    Row pending = null;
    long size = image.virtualSize();
    for (long start = 0; start < size; ) {
      Extent e = image.extentAt(start, size - start);
      ImageDetails.Layer layer = ImageDetails.layer(image, start);
      boolean present = e.kind() != Extent.Kind.UNALLOCATED;
      boolean zero = e.kind() == Extent.Kind.ZERO || e.kind() == Extent.Kind.UNALLOCATED;
      boolean data = e.kind() == Extent.Kind.DATA || e.kind() == Extent.Kind.COMPRESSED;
      long offset = e.kind() == Extent.Kind.DATA && e.hostOffset() >= 0 ? e.hostOffset() : -1;
      Row row = new Row(start, e.length(), layer.depth(), present, zero, data, offset,
          layer.file());
      if (pending != null && pending.continuedBy(row)) {
        pending = new Row(pending.start, pending.length + row.length, pending.depth,
            pending.present, pending.zero, pending.data, pending.offset, pending.file);
      } else {
        if (pending != null) {
          sink.accept(pending);
        }
        pending = row;
      }
      start = e.end();
    }
    if (pending != null) {
      sink.accept(pending);
    }
  }

  private static String hex(long value) {
    return value == 0 ? "0" : "0x" + Long.toHexString(value);
  }
}

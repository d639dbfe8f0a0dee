package io.qcow2.bench;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The A/B table: for every workload and strategy the score with its error, the ratio to the legacy
 * strategy's score of the same workload, and for the macro workloads the share of time spent in
 * overlap checking, computed against the {@code none} baseline of the same run.
 */
final class ReportTable {
  /** The strategy ratios are taken against. */
  static final String LEGACY = "legacy";

  /**
   * One line of the table.
   *
   * @param ratio score / legacy score, NaN when the workload has no legacy score
   * @param share (t − t_none) / t clamped at 0, NaN when not a macro workload or no none score
   * @param shareClamped whether the unclamped share was negative (the strategy measured faster than
   *     no checks at all, i.e. within noise)
   */
  record Row(
      String workload, String strategy, double score, double error, String unit, double ratio,
      double ratioError, double share, double shareError, boolean shareClamped, boolean macro,
      double directShare, double directShareError) {}

  /** The columns of the text and HTML tables. */
  static final String[] HEADER = {"workload", "strategy", "score", "± error", "unit", "vs legacy",
      "share vs none (wall)", "direct share (CPU)"};

  private final List<Row> rows;

  private ReportTable(List<Row> rows) {
    this.rows = rows;
  }

  List<Row> rows() {
    return rows;
  }

  /** Builds the table; rows are grouped by workload in first-seen order, strategies sorted. */
  static ReportTable of(List<BenchResult> results) {
    Map<String, List<BenchResult>> byWorkload = new LinkedHashMap<>();
    for (BenchResult r : results) {
      byWorkload.computeIfAbsent(r.workload(), k -> new ArrayList<>()).add(r);
    }
    List<Row> rows = new ArrayList<>();
    for (Map.Entry<String, List<BenchResult>> group : byWorkload.entrySet()) {
      List<BenchResult> scores = new ArrayList<>(group.getValue());
      scores.sort(Comparator.comparing(BenchResult::strategy, Strategies.ORDER));
      BenchResult legacy = find(scores, LEGACY);
      BenchResult none = find(scores, Strategies.NONE);
      for (BenchResult r : scores) {
        double ratio = Double.NaN;
        double ratioError = Double.NaN;
        if (legacy != null) {
          ratio = r.score() / legacy.score();
          ratioError = ratio * Math.hypot(rel(r), rel(legacy));
        }
        boolean macro = Workloads.isMacro(r.benchmark());
        double share = Double.NaN;
        double shareError = Double.NaN;
        boolean clamped = false;
        if (macro && none != null && !r.strategy().equals(Strategies.NONE)
            && !Strategies.isOutside(r.strategy())) {
          double[] s = share(r.score(), err(r), none.score(), err(none));
          share = Math.max(0, s[0]);
          clamped = s[0] < 0;
          shareError = s[1];
        }
        BenchResult.Secondary direct = r.secondary().get(ProbeProfiler.SHARE);
        rows.add(new Row(group.getKey(), r.strategy(), r.score(), r.error(), r.unit(), ratio,
            ratioError, share, shareError, clamped, macro,
            direct == null ? Double.NaN : direct.score(),
            direct == null ? Double.NaN : direct.error()));
      }
    }
    return new ReportTable(rows);
  }

  /**
   * The share of {@code t} spent in overlap checking, {@code (t − tNone) / t}, and its error
   * propagated from both scores' errors (first-order, errors assumed independent).
   */
  static double[] share(double t, double tError, double tNone, double tNoneError) {
    double share = (t - tNone) / t;
    double error = Math.hypot(tNoneError / t, tNone * tError / (t * t));
    return new double[] {share, error};
  }

  private static BenchResult find(List<BenchResult> scores, String strategy) {
    for (BenchResult r : scores) {
      if (r.strategy().equals(strategy)) {
        return r;
      }
    }
    return null;
  }

  private static double err(BenchResult r) {
    return Double.isNaN(r.error()) ? 0 : r.error();
  }

  private static double rel(BenchResult r) {
    return r.score() == 0 ? 0 : err(r) / r.score();
  }

  /** The table as aligned plain text, one header line and one line per row. */
  String toText() {
    String[] header = HEADER;
    List<String[]> lines = new ArrayList<>();
    lines.add(header);
    for (Row row : rows) {
      lines.add(cells(row));
    }
    int[] width = new int[header.length];
    for (String[] line : lines) {
      for (int i = 0; i < line.length; i++) {
        width[i] = Math.max(width[i], line[i].length());
      }
    }
    StringBuilder out = new StringBuilder();
    String previous = null;
    for (String[] line : lines) {
      if (previous != null && !line[0].equals(previous) && line != lines.get(1)) {
        out.append('\n');
      }
      previous = line == header ? null : line[0];
      for (int i = 0; i < line.length; i++) {
        boolean left = i < 2 || i == 4;
        String cell = line[i];
        String pad = " ".repeat(width[i] - cell.length());
        out.append(left ? cell + pad : pad + cell);
        out.append(i + 1 < line.length ? "  " : "\n");
      }
    }
    return out.toString();
  }

  /** The cells of a row as shown in text and HTML. */
  static String[] cells(Row row) {
    return new String[] {
      row.workload(),
      row.strategy(),
      number(row.score()),
      Double.isNaN(row.error()) ? "n/a" : number(row.error()),
      row.unit(),
      Double.isNaN(row.ratio()) ? "-" : ratio(row.ratio(), row.ratioError()),
      shareText(row),
      !row.macro() || Double.isNaN(row.directShare()) ? ""
          : Headline.percent(row.directShare(), row.directShareError()),
    };
  }

  static String shareText(Row row) {
    if (!row.macro()) {
      return "";
    }
    if (Double.isNaN(row.share())) {
      return row.strategy().equals(Strategies.NONE) ? "(baseline)" : "-";
    }
    String text = String.format(Locale.ROOT, "%.3g %% ± %s", 100 * row.share(),
        percent(100 * row.shareError()));
    return row.shareClamped() ? text + " (clamped, was < 0)" : text;
  }

  private static String percent(double value) {
    return String.format(Locale.ROOT, value >= 10 ? "%.0f %%" : "%.2g %%", value);
  }

  static String number(double value) {
    if (Double.isNaN(value)) {
      return "NaN";
    }
    double abs = Math.abs(value);
    if (abs != 0 && (abs >= 1e7 || abs < 1e-3)) {
      return String.format(Locale.ROOT, "%.3e", value);
    }
    if (abs >= 100) {
      return String.format(Locale.ROOT, "%.1f", value);
    }
    // Four significant digits, plainly written: 0.002345, 12.35.
    return new java.math.BigDecimal(value).round(new java.math.MathContext(4)).toPlainString();
  }

  static String ratio(double ratio, double error) {
    String format = ratio != 0 && Math.abs(ratio) < 0.01 ? "%.2e" : "%.3f";
    return String.format(Locale.ROOT, format + " ± " + format, ratio, error);
  }
}

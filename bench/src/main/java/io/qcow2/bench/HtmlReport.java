package io.qcow2.bench;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Renders the A/B report as one self-contained HTML page: the table, then one log-log chart per
 * scaling curve (score against the {@value #SCALE_PARAM} param, a line per strategy), then the
 * memory table. Charts are inline SVG generated here; the page loads nothing from anywhere.
 */
final class HtmlReport {
  /** The param that makes a benchmark a scaling curve. */
  static final String SCALE_PARAM = "structures";

  private static final String[] COLORS = {"#444444", "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"};

  private HtmlReport() {}

  static String render(String title, List<String> context, ReportTable table,
      List<BenchResult> results, List<MemoryRecord> memory) {
    StringBuilder out = new StringBuilder();
    out.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>")
        .append(esc(title)).append("</title>\n<style>\n")
        .append("body{font-family:sans-serif;margin:2em;max-width:80em}")
        .append("table{border-collapse:collapse;margin:1em 0}")
        .append("th,td{border:1px solid #ccc;padding:2px 8px;font-size:13px}")
        .append("td.n{text-align:right;font-family:monospace}")
        .append("tr.group td{border-top:2px solid #888}")
        .append("svg{margin:0.5em 1em 1em 0;border:1px solid #eee}")
        .append(".ref{color:#666;font-style:italic}\n")
        .append("</style></head><body>\n<h1>").append(esc(title)).append("</h1>\n");
    if (!context.isEmpty()) {
      out.append("<ul>\n");
      for (String line : context) {
        out.append("<li>").append(esc(line)).append("</li>\n");
      }
      out.append("</ul>\n");
    }
    List<Headline.Workload> headline = Headline.of(results);
    if (!headline.isEmpty()) {
      out.append(headline(headline));
    }
    out.append("<h2>Scores</h2>\n<table id=\"scores\">\n<tr>");
    for (String h : ReportTable.HEADER) {
      out.append("<th>").append(esc(h)).append("</th>");
    }
    out.append("</tr>\n");
    String previous = null;
    for (ReportTable.Row row : table.rows()) {
      String[] cells = ReportTable.cells(row);
      boolean group = previous != null && !previous.equals(row.workload());
      previous = row.workload();
      out.append(group ? "<tr class=\"group\">" : "<tr>");
      for (int i = 0; i < cells.length; i++) {
        boolean numeric = i == 2 || i == 3 || i >= 5;
        out.append(numeric ? "<td class=\"n\">" : "<td>").append(esc(cells[i])).append("</td>");
      }
      out.append("</tr>\n");
    }
    out.append("</table>\n");

    Map<String, Map<String, TreeMap<Double, Double>>> curves = curves(results);
    if (!curves.isEmpty()) {
      out.append("<h2>Scaling curves</h2>\n<p>Score against the number of metadata structures, "
          + "log-log; lower is better.</p>\n");
      curves.forEach((name, lines) -> out.append(chart(name, lines, unitOf(results, name))));
    }
    if (!memory.isEmpty()) {
      out.append("<h2>Memory</h2>\n<table id=\"memory\">\n<tr>");
      for (String h : MemoryRecord.HEADER) {
        out.append("<th>").append(esc(h)).append("</th>");
      }
      out.append("</tr>\n");
      for (MemoryRecord m : memory) {
        out.append("<tr>");
        String[] cells = m.cells();
        for (int i = 0; i < cells.length; i++) {
          out.append(i >= 2 ? "<td class=\"n\">" : "<td>").append(esc(cells[i])).append("</td>");
        }
        out.append("</tr>\n");
      }
      out.append("</table>\n");
    }
    out.append("</body></html>\n");
    return out.toString();
  }

  /** The answer: one table row per workload and strategy, one bar chart per workload. */
  static String headline(List<Headline.Workload> workloads) {
    StringBuilder out = new StringBuilder("<h2>Answer</h2>\n<p>Overlap share = CPU time inside "
        + "the strategy over the CPU time of the workload's thread, measured directly (probe), and "
        + "against <code>none</code> ((t &minus; t<sub>none</sub>) / t, thread CPU time); speed-up "
        + "= legacy's CPU time / the strategy's. Errors are 99.9 % half-widths.</p>\n"
        + "<table id=\"answer\">\n<tr><th>workload</th><th>winner</th><th>strategy</th>"
        + "<th>share (direct)</th><th>in the strategy per call</th><th>share vs none</th>"
        + "<th>ms (wall)</th>"
        + "<th>speed-up over legacy</th><th>series (perf, QEMU 2014)</th></tr>\n");
    for (Headline.Workload w : workloads) {
      boolean first = true;
      for (AbSummary.Macro m : w.strategies()) {
        if (m.strategy().equals(Strategies.NONE)) {
          continue;
        }
        out.append(first ? "<tr class=\"group\">" : "<tr>")
            .append("<td>").append(first ? esc(w.label() + " " + w.name()) : "").append("</td>")
            .append("<td>").append(first && w.winner() != null ? "<b>" + esc(w.winner()) + "</b>" : "")
            .append("</td><td>").append(esc(m.strategy())).append("</td>")
            .append("<td class=\"n\">").append(esc(Headline.percent(m.share(), m.shareError())))
            .append("</td><td class=\"n\">")
            .append(esc(Headline.nanos(m.nsPerCall(), m.nsPerCallError())))
            .append("</td><td class=\"n\">")
            .append(esc(Headline.percent(m.shareVsNone(), m.shareVsNoneError())))
            .append("</td><td class=\"n\">").append(esc(ReportTable.number(m.ms())))
            .append("</td><td class=\"n\">")
            .append(esc(Headline.speedUp(w.speedUp().get(m.strategy())))).append("</td><td>")
            .append(first ? esc(String.valueOf(Workloads.seriesFigure(w.label()))) : "")
            .append("</td></tr>\n");
        first = false;
      }
      for (BenchResult r : w.outside()) {
        out.append("<tr class=\"ref\"><td></td><td></td><td>").append(esc(r.strategy()))
            .append("</td><td></td><td></td><td></td><td class=\"n\">")
            .append(esc(ReportTable.number(r.score()) + " ± " + ReportTable.number(r.error())))
            .append("</td><td></td><td></td></tr>\n");
      }
    }
    out.append("</table>\n");
    for (Headline.Workload w : workloads) {
      out.append(bars(w));
    }
    return out.toString();
  }

  /** Horizontal bars of one workload's shares (direct solid, vs none light) with error bars. */
  static String bars(Headline.Workload workload) {
    List<AbSummary.Macro> shown = new ArrayList<>();
    double max = 1;
    for (AbSummary.Macro m : workload.strategies()) {
      if (!m.strategy().equals(Strategies.NONE)) {
        shown.add(m);
        max = Math.max(max, finite(m.share()) + finite(m.shareError()));
        max = Math.max(max, finite(m.shareVsNone()) + finite(m.shareVsNoneError()));
      }
    }
    max = Math.min(100, Math.ceil(max / 10) * 10);
    int left = 110;
    int plotW = 420;
    int rowH = 34;
    int top = 28;
    int h = top + rowH * shown.size() + 30;
    int w = left + plotW + 110;
    StringBuilder svg = new StringBuilder(String.format(Locale.ROOT,
        "<svg class=\"bars\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            + "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n", w, h, w, h));
    svg.append(String.format(Locale.ROOT, "<title>%s overlap share</title>\n"
        + "<text x=\"%d\" y=\"16\" font-size=\"13\" font-weight=\"bold\">%s overlap share, %%"
        + " (solid: direct; light: vs none)</text>\n", esc(workload.label()), 4,
        esc(workload.label())));
    for (int tick = 0; tick <= 5; tick++) {
      double x = left + plotW * tick / 5.0;
      svg.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
          + "stroke=\"#eee\"/><text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
          x, top, x, h - 25, x, h - 12, ReportTable.number(max * tick / 5)));
    }
    int i = 0;
    for (AbSummary.Macro m : shown) {
      double y = top + i * rowH;
      String color = COLORS[(i + 1) % COLORS.length];
      svg.append(String.format(Locale.ROOT,
          "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", left - 6, y + 16,
          esc(m.strategy())));
      svg.append(bar(left, plotW, max, y + 3, 13, m.share(), m.shareError(), color, 1.0,
          m.strategy() + " direct"));
      svg.append(bar(left, plotW, max, y + 18, 9, m.shareVsNone(), m.shareVsNoneError(), color,
          0.35, m.strategy() + " vs none"));
      i++;
    }
    return svg.append("</svg>\n").toString();
  }

  private static String bar(int left, int plotW, double max, double y, double height, double value,
      double error, String color, double opacity, String what) {
    if (Double.isNaN(value)) {
      return "";
    }
    double x0 = left + plotW * Math.max(0, Math.min(value, max)) / max;
    String text = Headline.percent(value, error);
    StringBuilder out = new StringBuilder(String.format(Locale.ROOT,
        "<rect class=\"bar\" x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
            + "fill-opacity=\"%.2f\"><title>%s: %s</title></rect>\n",
        left, y, x0 - left, height, color, opacity, esc(what), esc(text)));
    double textX = x0;
    if (!Double.isNaN(error) && error > 0) {
      double lo = left + plotW * Math.max(0, Math.min(value - error, max)) / max;
      double hi = left + plotW * Math.max(0, Math.min(value + error, max)) / max;
      textX = Math.max(x0, hi);
      double mid = y + height / 2;
      out.append(String.format(Locale.ROOT, "<path class=\"errorbar\" d=\"M%.1f %.1fH%.1fM%.1f %.1fV%.1f"
          + "M%.1f %.1fV%.1f\" stroke=\"#000\" fill=\"none\"/>\n", lo, mid, hi, lo, y, y + height,
          hi, y, y + height));
    }
    out.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\">%s</text>\n",
        Math.min(textX, left + plotW) + 4, y + height - 2, esc(text)));
    return out.toString();
  }

  private static double finite(double v) {
    return Double.isNaN(v) || Double.isInfinite(v) ? 0 : v;
  }

  /** Curve name (workload without the scale param) → strategy → (x → score). */
  static Map<String, Map<String, TreeMap<Double, Double>>> curves(List<BenchResult> results) {
    Map<String, Map<String, TreeMap<Double, Double>>> curves = new LinkedHashMap<>();
    for (BenchResult r : results) {
      String x = r.params().get(SCALE_PARAM);
      if (x == null) {
        continue;
      }
      String name = curveName(r);
      curves.computeIfAbsent(name, k -> new TreeMap<>(Strategies.ORDER))
          .computeIfAbsent(r.strategy(), k -> new TreeMap<>())
          .put(Double.parseDouble(x), r.score());
    }
    // A curve needs two points: a benchmark run at one size only is in the table, not charted.
    curves.values().removeIf(lines -> lines.values().stream().allMatch(points -> points.size() < 2));
    return curves;
  }

  private static String curveName(BenchResult r) {
    StringBuilder name = new StringBuilder(r.shortName());
    r.params().forEach((k, v) -> {
      if (!k.equals(SCALE_PARAM) && !k.equals(BenchResult.STRATEGY)) {
        name.append(' ').append(k).append('=').append(v);
      }
    });
    return name.toString();
  }

  private static String unitOf(List<BenchResult> results, String curve) {
    for (BenchResult r : results) {
      if (r.params().containsKey(SCALE_PARAM) && curveName(r).equals(curve)) {
        return r.unit();
      }
    }
    return "";
  }

  /** One log-log line chart as inline SVG. */
  static String chart(String name, Map<String, TreeMap<Double, Double>> lines, String unit) {
    int w = 560;
    int h = 340;
    int left = 70;
    int right = 130;
    int top = 30;
    int bottom = 45;
    double minX = Double.MAX_VALUE;
    double maxX = -Double.MAX_VALUE;
    double minY = Double.MAX_VALUE;
    double maxY = -Double.MAX_VALUE;
    for (TreeMap<Double, Double> line : lines.values()) {
      for (Map.Entry<Double, Double> p : line.entrySet()) {
        if (p.getKey() > 0 && p.getValue() > 0) {
          minX = Math.min(minX, Math.log10(p.getKey()));
          maxX = Math.max(maxX, Math.log10(p.getKey()));
          minY = Math.min(minY, Math.log10(p.getValue()));
          maxY = Math.max(maxY, Math.log10(p.getValue()));
        }
      }
    }
    if (minX > maxX) {
      return "";
    }
    minX = Math.floor(minX);
    maxX = Math.max(Math.ceil(maxX), minX + 1);
    minY = Math.floor(minY);
    maxY = Math.max(Math.ceil(maxY), minY + 1);
    double plotW = w - left - right;
    double plotH = h - top - bottom;
    StringBuilder svg = new StringBuilder();
    svg.append(String.format(Locale.ROOT,
        "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            + "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n", w, h, w, h));
    svg.append("<title>").append(esc(name)).append("</title>\n");
    svg.append(String.format(Locale.ROOT,
        "<text x=\"%d\" y=\"18\" font-size=\"13\" font-weight=\"bold\">%s</text>\n", left, esc(name)));
    for (double d = minX; d <= maxX + 1e-9; d++) {
      double x = left + (d - minX) / (maxX - minX) * plotW;
      svg.append(String.format(Locale.ROOT,
          "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
              + "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">1e%d</text>\n",
          x, top, x, top + plotH, x, top + plotH + 15, (int) d));
    }
    for (double d = minY; d <= maxY + 1e-9; d++) {
      double y = top + plotH - (d - minY) / (maxY - minY) * plotH;
      svg.append(String.format(Locale.ROOT,
          "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
              + "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">1e%d</text>\n",
          left, y, left + plotW, y, left - 5, y + 4, (int) d));
    }
    svg.append(String.format(Locale.ROOT,
        "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#888\"/>\n",
        left, top, plotW, plotH));
    svg.append(String.format(Locale.ROOT,
        "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">metadata structures</text>\n",
        left + plotW / 2, h - 8));
    svg.append(String.format(Locale.ROOT,
        "<text transform=\"translate(14,%.1f) rotate(-90)\" text-anchor=\"middle\">%s</text>\n",
        top + plotH / 2, esc(unit)));
    int i = 0;
    for (Map.Entry<String, TreeMap<Double, Double>> line : lines.entrySet()) {
      String color = COLORS[i % COLORS.length];
      List<String> points = new ArrayList<>();
      for (Map.Entry<Double, Double> p : line.getValue().entrySet()) {
        if (p.getKey() <= 0 || p.getValue() <= 0) {
          continue;
        }
        double x = left + (Math.log10(p.getKey()) - minX) / (maxX - minX) * plotW;
        double y = top + plotH - (Math.log10(p.getValue()) - minY) / (maxY - minY) * plotH;
        points.add(String.format(Locale.ROOT, "%.1f,%.1f", x, y));
        svg.append(String.format(Locale.ROOT,
            "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%s %s: %s %s</title></circle>\n",
            x, y, color, esc(line.getKey()), ReportTable.number(p.getKey()),
            ReportTable.number(p.getValue()), esc(unit)));
      }
      svg.append(String.format(Locale.ROOT,
          "<polyline class=\"series\" data-strategy=\"%s\" points=\"%s\" fill=\"none\" "
              + "stroke=\"%s\" stroke-width=\"2\"/>\n",
          esc(line.getKey()), String.join(" ", points), color));
      double ly = top + 10 + 18 * i;
      svg.append(String.format(Locale.ROOT,
          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>"
              + "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
          left + plotW + 10, ly, left + plotW + 30, ly, color, left + plotW + 35, ly + 4,
          esc(line.getKey())));
      i++;
    }
    svg.append("</svg>\n");
    return svg.toString();
  }

  static String esc(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
  }
}

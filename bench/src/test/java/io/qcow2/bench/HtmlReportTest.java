package io.qcow2.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class HtmlReportTest {
  @Test
  void rendersRowsCurvesAndMemoryWithoutExternalResources() {
    List<BenchResult> results = BenchResult.parseJmhJson(new FakeResults()
        .check("legacy", 1000, 2000, 100)
        .check("legacy", 100000, 200000, 100)
        .check("windowed", 1000, 20, 1)
        .check("windowed", 100000, 21, 1)
        .w1("none", 1000, 10)
        .w1("<script>", 1100, 10)
        .json());
    List<MemoryRecord> memory =
        List.of(new MemoryRecord("2GiB/512B", "windowed", 2L << 30, 512, 81920, 40960, 50000));
    String html = HtmlReport.render("A/B report", List.of("profile quick"),
        ReportTable.of(results), results, memory);

    String scores = between(html, "<table id=\"scores\">", "</table>");
    assertEquals(1 + 6, count(scores, "<tr"), "header plus one row per score");
    assertTrue(scores.contains("<td>windowed</td>"));
    assertTrue(scores.contains("&lt;script&gt;"), "cells are escaped");
    assertFalse(html.contains("<script"), "no scripts, no CDN");
    assertFalse(html.contains("http://") && !html.contains("http://www.w3.org/2000/svg"));
    assertFalse(html.contains("https://"));

    assertEquals(1, count(html, "<svg class=\"chart\""), "one curve: check writeBytes=512");
    assertEquals(2, count(html, "<polyline class=\"series\""), "one line per strategy");
    assertTrue(html.contains("data-strategy=\"windowed\""));

    String mem = between(html, "<table id=\"memory\">", "</table>");
    assertEquals(2, count(mem, "<tr"));
    assertTrue(mem.contains("<td class=\"n\">40960</td>"));
  }

  private static String between(String text, String start, String end) {
    int s = text.indexOf(start);
    assertTrue(s >= 0, start);
    return text.substring(s, text.indexOf(end, s));
  }

  private static int count(String text, String what) {
    Matcher m = Pattern.compile(Pattern.quote(what)).matcher(text);
    int n = 0;
    while (m.find()) {
      n++;
    }
    return n;
  }
}

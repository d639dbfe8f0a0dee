package io.qcow2.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ReportTableTest {
  private static final List<BenchResult> RESULTS = BenchResult.parseJmhJson(new FakeResults()
      .check("windowed", 1000, 20, 1)
      .check("legacy", 1000, 2000, 100)
      .check("none", 1000, 1, 0.1)
      .w1("legacy", 2000, 20)
      .w1("none", 1000, 10)
      .w1("windowed", 990, 30)
      .json());

  @Test
  void ratiosAgainstLegacyAndStrategiesInOrder() {
    List<ReportTable.Row> rows = ReportTable.of(RESULTS).rows();
    assertEquals(6, rows.size());
    assertEquals(List.of("none", "legacy", "windowed"),
        rows.subList(0, 3).stream().map(ReportTable.Row::strategy).toList());
    ReportTable.Row windowed = rows.get(2);
    assertEquals(0.01, windowed.ratio(), 1e-12);
    assertEquals(0.01 * Math.hypot(0.05, 0.05), windowed.ratioError(), 1e-12);
    assertEquals(1.0, rows.get(1).ratio());
    assertFalse(windowed.macro());
    assertTrue(Double.isNaN(windowed.share()), "no share for micro benchmarks");
  }

  @Test
  void macroShareAgainstNoneClampedAtZero() {
    List<ReportTable.Row> rows = ReportTable.of(RESULTS).rows();
    ReportTable.Row legacy = rows.get(4);
    assertEquals("legacy", legacy.strategy());
    assertEquals(0.5, legacy.share(), 1e-12);
    assertEquals(Math.hypot(10.0 / 2000, 1000 * 20.0 / (2000.0 * 2000)), legacy.shareError(), 1e-12);
    assertFalse(legacy.shareClamped());
    ReportTable.Row windowed = rows.get(5);
    assertEquals(0.0, windowed.share());
    assertTrue(windowed.shareClamped());
    assertTrue(ReportTable.shareText(windowed).contains("clamped"));
    assertEquals("(baseline)", ReportTable.shareText(rows.get(3)));
  }

  @Test
  void textTableHasHeaderAndOneLinePerRow() {
    String text = ReportTable.of(RESULTS).toText();
    assertTrue(text.startsWith("workload"), text);
    assertTrue(text.contains("vs legacy") && text.contains("share vs none")
        && text.contains("direct share"), text);
    assertEquals(7, text.lines().filter(l -> !l.isBlank()).count(), text);
    assertTrue(text.contains("50.0 % ± "), text);
  }
}

package io.qcow2.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class AbSummaryTest {
  private static final List<BenchResult> RESULTS = BenchResult.parseJmhJson(new FakeResults()
      .probed("w3RandomWrites", "none", 100, 10, 0, 0, 80, 4)
      .probed("w3RandomWrites", "legacy", 250, 20, 55, 1.5, 200, 8)
      .probed("w3RandomWrites", "windowed", 120, 10, 12, 0.5, 90, 4)
      .w1("none", 100, 5)
      .w1("windowed", 101, 5)
      .add("io.qcow2.bench.ImageWorkloadBenchmark.w3RandomWrites", "ss", "ms/op", 900, 50,
          "strategy", OutsideReference.label("qemu-img version 7.2.22", "qemu-img bench", "none"),
          "size", "64")
      .check("legacy", 1000, 2000, 100)
      .check("windowed", 1000, 20, 1)
      .add("io.qcow2.bench.CheckLatencyBenchmark.check", "avgt", "ns/op", 30, 2,
          "strategy", "windowed", "structures", "1000", "writeBytes", "65536")
      .json());

  @SuppressWarnings("unchecked")
  @Test
  void oneEntryPerMacroWorkloadAndStrategyAndPerOneClusterCheckPoint() {
    List<Map<String, Object>> entries = (List<Map<String, Object>>) Json.parse(
        AbSummary.toJson(RESULTS));
    assertEquals(5 + 2, entries.size(), entries.toString());
    Map<String, Object> legacy = entries.get(1);
    assertEquals(List.of("workload", "strategy", "share", "shareError", "shareVsNone",
        "shareVsNoneError", "method", "ms", "msError", "nsPerCall", "nsPerCallError"),
        List.copyOf(legacy.keySet()));
    assertNull(legacy.get("nsPerCall"), "no call count in these results");
    assertEquals("W3", legacy.get("workload"));
    assertEquals("legacy", legacy.get("strategy"));
    assertEquals(55.0, ((Number) legacy.get("share")).doubleValue(), 1e-9);
    assertEquals(1.5, ((Number) legacy.get("shareError")).doubleValue(), 1e-9);
    // shareVsNone from the workload thread's CPU time: (200 - 80) / 200.
    assertEquals(60.0, ((Number) legacy.get("shareVsNone")).doubleValue(), 1e-9);
    assertEquals(100 * Math.hypot(4.0 / 200, 80 * 8.0 / (200.0 * 200)),
        ((Number) legacy.get("shareVsNoneError")).doubleValue(), 1e-5);
    assertEquals(250.0, ((Number) legacy.get("ms")).doubleValue(), 1e-9);
    assertEquals(AbSummary.METHOD_UNPAIRED, legacy.get("method"));

    Map<String, Object> none = entries.get(0);
    assertEquals("none", none.get("strategy"));
    assertEquals(0.0, ((Number) none.get("share")).doubleValue());

    // W1 was measured without the probe: no direct share, shareVsNone from wall time.
    Map<String, Object> w1 = entries.get(4);
    assertEquals("W1", w1.get("workload"));
    assertNull(w1.get("share"));
    assertEquals(AbSummary.METHOD_WITHOUT_PROBE, w1.get("method"));
    assertEquals(1.0 / 101 * 100, ((Number) w1.get("shareVsNone")).doubleValue(), 1e-5);

    Map<String, Object> check = entries.get(5);
    assertEquals(List.of("workload", "strategy", "structures", "ns", "nsError"),
        List.copyOf(check.keySet()));
    assertEquals("check", check.get("workload"));
    assertEquals("legacy", check.get("strategy"));
    assertEquals(1000L, ((Number) check.get("structures")).longValue());
    assertEquals(2000.0, ((Number) check.get("ns")).doubleValue());
    assertTrue(entries.stream().noneMatch(e -> String.valueOf(e.get("strategy")).startsWith("QEMU")),
        "outside references are no strategy");
  }

  @SuppressWarnings("unchecked")
  @Test
  void pairedNonePassGivesShareVsNoneWhenPresent() {
    List<Map<String, Object>> entries = (List<Map<String, Object>>) Json.parse(AbSummary.toJson(
        BenchResult.parseJmhJson(new FakeResults()
            .probed("w3RandomWrites", "none", 100, 10, 0, 0, 80, 4)
            .pairedProbed("w3RandomWrites", "windowed", 120, 12, 90, 11.5, 0.7)
            .json())));
    Map<String, Object> windowed = entries.get(1);
    assertEquals("windowed", windowed.get("strategy"));
    // The pairs' own mean and error, not (90 - 80) / 90 against the none fork.
    assertEquals(11.5, ((Number) windowed.get("shareVsNone")).doubleValue(), 1e-9);
    assertEquals(0.7, ((Number) windowed.get("shareVsNoneError")).doubleValue(), 1e-9);
    assertEquals(AbSummary.METHOD, windowed.get("method"));
    assertEquals(AbSummary.METHOD, entries.get(0).get("method"));
    // 12 % of 90 ms over 50 000 calls.
    assertEquals(0.12 * 90e6 / 50_000, ((Number) windowed.get("nsPerCall")).doubleValue(), 1e-3);
    assertEquals(216 * Math.hypot(0.5 / 12, 3.0 / 90),
        ((Number) windowed.get("nsPerCallError")).doubleValue(), 1e-3);
    assertTrue(Headline.toText(Headline.of(BenchResult.parseJmhJson(new FakeResults()
            .pairedProbed("w3RandomWrites", "windowed", 120, 12, 90, 11.5, 0.7).json())))
        .contains("216.0 ± 11.5 ns a call"));
  }

  @Test
  void headlineNamesTheWinnerAndTheSpeedUpOverLegacy() {
    List<Headline.Workload> headline = Headline.of(RESULTS);
    Headline.Workload w3 = headline.get(0);
    assertEquals("W3", w3.label());
    assertEquals("windowed", w3.winner());
    assertEquals(200.0 / 90, w3.speedUp().get("windowed")[0], 1e-9);
    assertEquals(1, w3.outside().size());
    String text = Headline.toText(headline);
    assertTrue(text.contains("W3") && text.contains("winner windowed"), text);
    assertTrue(text.contains("series (perf, QEMU 2014): legacy 18.73"), text);
    String html = HtmlReport.headline(headline);
    assertTrue(html.contains("<svg class=\"bars\""), html);
    assertTrue(html.contains("class=\"errorbar\""), html);
  }
}

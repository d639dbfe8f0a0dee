package io.qcow2.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.OverlapChecker;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * Each benchmark's setup, built for every strategy, gives the same answers: the benchmarks measure
 * the same work. {@code none} builds no checker and answers 0 everywhere; every real strategy must
 * agree with the others, and find metadata somewhere, so the workload is not trivially empty.
 */
class BenchmarkSetupTest {
  /**
   * Every strategy found but the test-only ones of the gate's and probe's tests, which find nothing
   * or need settings on purpose; the slowed one, a windowed that only costs more, stays.
   */
  private static final List<String> STRATEGIES = Strategies.names().stream()
      .filter(s -> !TestStrategies.NAMES.contains(s) || s.equals(SlowedWindowedProvider.NAME))
      .collect(java.util.stream.Collectors.toUnmodifiableList());

  private static void assertSameAnswers(String what, Function<String, long[]> answers) {
    long[] first = null;
    String firstStrategy = null;
    for (String strategy : STRATEGIES) {
      long[] got = answers.apply(strategy);
      if (strategy.equals(Strategies.NONE)) {
        assertTrue(Arrays.stream(got).allMatch(a -> a == 0), what + ": none answers 0");
        continue;
      }
      if (first == null) {
        first = got;
        firstStrategy = strategy;
        assertTrue(Arrays.stream(got).anyMatch(a -> a != 0), what + ": some check finds metadata");
      } else {
        assertArrayEquals(first, got, what + ": " + strategy + " differs from " + firstStrategy);
      }
    }
  }

  @Test
  void checkLatencyAnswersAgree() {
    for (int structures : new int[] {1000, 10000}) {
      for (int writeBytes : new int[] {512, 65536}) {
        assertSameAnswers("CheckLatency " + structures + "/" + writeBytes, strategy -> {
          CheckLatencyBenchmark b = new CheckLatencyBenchmark();
          b.strategy = strategy;
          b.structures = structures;
          b.writeBytes = writeBytes;
          b.setUp();
          // Enough ops to walk over all of the metadata at the start of the image.
          long[] answers = new long[Math.toIntExact(4 * (long) structures * 512 / writeBytes + 64)];
          for (int i = 0; i < answers.length; i++) {
            answers[i] = b.check();
          }
          return answers;
        });
      }
    }
  }

  @Test
  void cacheHostileAnswersAgree() {
    for (String cache : new String[] {"default", "one-window"}) {
      assertSameAnswers("CacheHostile " + cache, strategy -> {
        CacheHostileBenchmark b = new CacheHostileBenchmark();
        b.strategy = strategy;
        b.structures = 2000;
        b.cache = cache;
        b.setUp();
        long[] answers = new long[20000];
        for (int i = 0; i < answers.length; i++) {
          answers[i] = b.check();
        }
        return answers;
      });
    }
  }

  @Test
  void enterRemoveLeavesTheSameState() {
    assertSameAnswers("EnterRemove", strategy -> {
      EnterRemoveBenchmark b = new EnterRemoveBenchmark();
      b.strategy = strategy;
      b.structures = 1000;
      b.setUp();
      long first = b.enterRemove();
      assertEquals(first + EnterRemoveBenchmark.STRIDE_CLUSTERS * 512, b.enterRemove());
      for (int i = 0; i < 20000; i++) {
        b.enterRemove();
      }
      // Every table entered was removed again: the checker answers as before the benchmark.
      return probe(b.checker, b.image.hostClusters() + CheckLatencyBenchmark.DATA_CLUSTERS * 16);
    });
  }

  /** Checks every run of 64 clusters up to {@code clusters}. */
  private static long[] probe(OverlapChecker checker, long clusters) {
    long[] answers = new long[Math.toIntExact(clusters / 64)];
    for (int i = 0; i < answers.length; i++) {
      answers[i] = checker == null ? 0 : checker.check((long) i * 64 * 512, 64 * 512, 0);
    }
    return answers;
  }
}

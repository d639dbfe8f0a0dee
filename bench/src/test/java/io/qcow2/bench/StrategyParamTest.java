package io.qcow2.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qcow2.overlap.OverlapCheckers;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.openjdk.jmh.annotations.Param;

/**
 * Strategies are found when the benchmarks run, never listed at compile time: a new strategy on the
 * class path (here the test-only slowed one) is in the list with no edit to bench.
 */
class StrategyParamTest {
  static final List<Class<?>> BENCHMARK_CLASSES = SuiteRunnerTest.benchmarkClasses();

  @Test
  void namesAreNoneAndEveryStrategyServiceLoaderFinds() {
    Set<String> expected = new TreeSet<>(OverlapCheckers.names());
    assertTrue(expected.contains(SlowedWindowedProvider.NAME),
        "a provider only on the test class path is found");
    assertTrue(expected.containsAll(TestStrategies.NAMES), "test providers are registered");
    // The bench's timing wrapper is a provider but no strategy to benchmark.
    assertTrue(expected.remove(ProbeProvider.NAME), "the probe is registered");
    expected.add(Strategies.NONE);
    assertEquals(expected, new TreeSet<>(Strategies.names()));
    assertEquals(Strategies.NONE, Strategies.names().get(0));
  }

  @Test
  void everyBenchmarkLeavesItsStrategyParamToTheRunner() {
    List<String> checked = new ArrayList<>();
    for (Class<?> type : BENCHMARK_CLASSES) {
      for (Class<?> state : states(type)) {
        for (Field field : state.getFields()) {
          if (field.getName().equals(BenchResult.STRATEGY)) {
            Param param = field.getAnnotation(Param.class);
            assertEquals(List.of(Strategies.FOUND_AT_RUN_TIME), Arrays.asList(param.value()),
                state.getName() + " must not list strategies at compile time");
            checked.add(type.getSimpleName());
          }
        }
      }
    }
    assertEquals(BENCHMARK_CLASSES.size(), checked.size(), "one strategy param per class: " + checked);
  }

  /** The class and its nested @State classes. */
  private static List<Class<?>> states(Class<?> type) {
    List<Class<?>> states = new ArrayList<>();
    states.add(type);
    states.addAll(Arrays.asList(type.getClasses()));
    return states;
  }
}

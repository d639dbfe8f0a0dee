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

/** A new strategy on the class path must show up in every benchmark's strategy param. */
class StrategyParamTest {
  static final List<Class<?>> BENCHMARK_CLASSES = SuiteRunnerTest.benchmarkClasses();

  @Test
  void paramValuesAreNoneAndEveryStrategyServiceLoaderFinds() {
    Set<String> expected = new TreeSet<>(OverlapCheckers.names());
    // The test-only strategies exist only on the test class path, for the gate's and probe's tests.
    assertTrue(expected.removeAll(TestStrategies.NAMES), "test providers are registered");
    expected.add(Strategies.NONE);
    assertEquals(expected, new TreeSet<>(Strategies.PARAM_VALUES));
  }

  @Test
  void everyBenchmarkUsesTheParamValues() throws Exception {
    List<String> checked = new ArrayList<>();
    for (Class<?> type : BENCHMARK_CLASSES) {
      for (Class<?> state : states(type)) {
        for (Field field : state.getFields()) {
          if (field.getName().equals(BenchResult.STRATEGY)) {
            Param param = field.getAnnotation(Param.class);
            assertEquals(Strategies.PARAM_VALUES, Arrays.asList(param.value()), state.getName());
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

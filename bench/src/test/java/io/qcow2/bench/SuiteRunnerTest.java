package io.qcow2.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.openjdk.jmh.runner.BenchmarkList;
import org.openjdk.jmh.runner.BenchmarkListEntry;
import org.openjdk.jmh.runner.format.OutputFormatFactory;
import org.openjdk.jmh.runner.options.VerboseMode;

class SuiteRunnerTest {
  static List<Class<?>> benchmarkClasses() {
    Set<Class<?>> classes = new LinkedHashSet<>();
    for (String name : SuiteRunner.BENCHMARKS) {
      try {
        classes.add(Class.forName(name.substring(0, name.lastIndexOf('.'))));
      } catch (ClassNotFoundException e) {
        throw new AssertionError(e);
      }
    }
    return new ArrayList<>(classes);
  }

  @Test
  void suiteListsEveryGeneratedBenchmark() {
    Set<String> generated = new TreeSet<>();
    for (BenchmarkListEntry entry : BenchmarkList.defaultList().getAll(
        OutputFormatFactory.createFormatInstance(System.out, VerboseMode.SILENT), List.of())) {
      generated.add(entry.getUsername());
    }
    assertEquals(generated, new TreeSet<>(SuiteRunner.BENCHMARKS));
  }

  @Test
  void selectFindsByRegex() {
    assertEquals(SuiteRunner.BENCHMARKS, SuiteRunner.select(null));
    assertEquals(List.of("io.qcow2.bench.EnterRemoveBenchmark.enterRemove"),
        SuiteRunner.select(Pattern.compile("EnterRemove")));
    assertEquals(List.of(), SuiteRunner.select(Pattern.compile("nothing-like-this")));
  }

  @Test
  void mergeKeepsEveryRun() {
    String a = new FakeResults().check("legacy", 1000, 1, 0).json();
    String b = new FakeResults().check("windowed", 1000, 2, 0).w1("none", 3, 0).json();
    List<BenchResult> merged =
        BenchResult.parseJmhJson(SuiteRunner.mergeJmhJson(List.of(a, "[]", b)));
    assertEquals(3, merged.size());
    assertEquals("none", merged.get(2).strategy());
    assertThrows(IllegalArgumentException.class, () -> SuiteRunner.mergeJmhJson(List.of("{}")));
  }
}

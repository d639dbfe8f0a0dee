package io.qcow2.overlap.tck;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The SPI grew by additions only: a strategy and a caller written against the API as it was before
 * strategies declared options (no {@code options()}, no {@code validate()}, windowed's option keys
 * from {@code OverlapCheckerSetup}) still compile against overlap-api alone.
 */
class SpiSourceCompatibilityTest {
  private static final String STRATEGY = """
      package old.style;

      import io.qcow2.overlap.MetadataType;
      import io.qcow2.overlap.MetadataView;
      import io.qcow2.overlap.OverlapChecker;
      import io.qcow2.overlap.OverlapCheckerProvider;
      import io.qcow2.overlap.OverlapCheckerSetup;
      import io.qcow2.overlap.OverlapCheckers;
      import java.util.Map;
      import java.util.Optional;
      import java.util.Set;

      public final class OldProvider implements OverlapCheckerProvider {
        @Override
        public String name() {
          return "old-style";
        }

        @Override
        public OverlapChecker create(OverlapCheckerSetup setup) {
          String window = setup.options().get(OverlapCheckerSetup.WINDOW_SIZE);
          String cache = setup.options().get(OverlapCheckerSetup.CACHE_SIZE);
          int bits = setup.clusterBits() + setup.enabledMask() + setup.clusterSize();
          MetadataView view = setup.view();
          return new OldChecker(setup);
        }

        static final class OldChecker extends OverlapChecker {
          private int types;

          OldChecker(OverlapCheckerSetup setup) {
            super(setup);
          }

          @Override
          public long memoryBytes() {
            return 16;
          }

          @Override
          protected void enterClusters(long first, long count, int types) {
            this.types |= types;
          }

          @Override
          protected void removeClusters(long first, long count, int types) {}

          @Override
          protected int checkClusters(long first, long count, int wanted) {
            return types & wanted;
          }

          @Override
          protected void addStats(Map<String, Long> stats) {
            stats.put("old", 1L);
          }
        }

        static void caller() {
          OverlapCheckerSetup setup = new OverlapCheckerSetup(
              OverlapCheckerSetup.MIN_CLUSTER_BITS, MetadataType.ALL_MASK, MetadataView.EMPTY, Map.of());
          OverlapCheckerSetup fromOptions = OverlapCheckerSetup.fromOptions(
              OverlapCheckerSetup.MAX_CLUSTER_BITS, MetadataView.EMPTY, Map.of());
          Set<String> names = OverlapCheckers.names();
          OverlapCheckerProvider provider = OverlapCheckers.load(OverlapCheckers.DEFAULT_STRATEGY);
          String selected = OverlapCheckers.selectedName(Map.of(OverlapCheckers.STRATEGY_OPTION, "x"));
          String property = OverlapCheckers.STRATEGY_PROPERTY;
          Optional<OverlapChecker> created = OverlapCheckers.create(Map.of(), 16, MetadataView.EMPTY);
          OverlapChecker checker = provider.create(setup);
          checker.enter(0, 1, MetadataType.MAIN_HEADER.mask());
          checker.remove(0, 1, MetadataType.MAIN_HEADER.mask());
          int hit = checker.check(0, OverlapChecker.MAX_HOST_OFFSET, 0);
          long bytes = checker.memoryBytes() + checker.enabledMask() + checker.clusterBits();
          Map<String, Long> stats = checker.stats();
          Long queries = stats.get(OverlapChecker.STAT_QUERIES) + stats.get(OverlapChecker.STAT_ENTERS)
              + stats.get(OverlapChecker.STAT_REMOVES);
        }
      }
      """;

  @TempDir Path dir;

  @Test
  void aStrategyAndACallerWrittenAgainstTheOldApiCompile() throws Exception {
    Path jar = StrategyJar.build(dir.resolve("old.jar"), Map.of("old.style.OldProvider", STRATEGY),
        List.of("old.style.OldProvider"));
    assertTrue(Files.size(jar) > 0);
  }
}

package io.qcow2.overlap.windowed;

import io.qcow2.overlap.MetadataType;
import io.qcow2.overlap.OverlapCheckMode;
import io.qcow2.overlap.OverlapChecker;
import io.qcow2.overlap.OverlapCheckerSetup;
import io.qcow2.overlap.tck.OverlapCheckerConformanceTest;
import io.qcow2.overlap.tck.ServiceDeclarations;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.provider.Arguments;

/**
 * The conformance suite (overlap-api's test-jar) for window sizes {8, 64, 4096, 65536} and cache
 * budgets {one window, default}: eight configurations, each with one differential run of {@code
 * overlap.tck.operations} operations against the TCK's reference model.
 */
class WindowedConformanceTest {
  @Test
  void moduleInfoAndServiceFileAgree() throws IOException {
    ServiceDeclarations.assertAgree(Path.of("target", "classes"));
  }

  /** One configuration of the suite. */
  abstract static class Configuration extends OverlapCheckerConformanceTest {
    private final int windowSize;
    private final boolean oneWindowCache;
    private final int differentialClusterBits;

    Configuration(int windowSize, boolean oneWindowCache, int differentialClusterBits) {
      this.windowSize = windowSize;
      this.oneWindowCache = oneWindowCache;
      this.differentialClusterBits = differentialClusterBits;
    }

    @Override
    protected OverlapChecker create(OverlapCheckerSetup setup) {
      Map<String, String> options = new HashMap<>(setup.options());
      options.put(OverlapCheckerSetup.WINDOW_SIZE, Integer.toString(windowSize));
      if (oneWindowCache) {
        options.put(OverlapCheckerSetup.CACHE_SIZE,
            Long.toString(WindowedOverlapChecker.bitmapBytes(windowSize)));
      }
      return new WindowedOverlapCheckerProvider().create(new OverlapCheckerSetup(
          setup.clusterBits(), setup.enabledMask(), setup.view(), options));
    }

    /** One differential run per configuration, so the eight runs total 8 x overlap.tck.operations. */
    @Override
    protected Stream<Arguments> differentialRuns() {
      int enabled = oneWindowCache ? MetadataType.ALL_MASK : OverlapCheckMode.CACHED.mask();
      return Stream.of(Arguments.of(differentialClusterBits, enabled));
    }
  }

  @Nested
  class Window8OneWindowCache extends Configuration {
    Window8OneWindowCache() {
      super(8, true, 9);
    }
  }

  @Nested
  class Window8DefaultCache extends Configuration {
    Window8DefaultCache() {
      super(8, false, 12);
    }
  }

  @Nested
  class Window64OneWindowCache extends Configuration {
    Window64OneWindowCache() {
      super(64, true, 12);
    }
  }

  @Nested
  class Window64DefaultCache extends Configuration {
    Window64DefaultCache() {
      super(64, false, 16);
    }
  }

  @Nested
  class Window4096OneWindowCache extends Configuration {
    Window4096OneWindowCache() {
      super(4096, true, 9);
    }
  }

  @Nested
  class Window4096DefaultCache extends Configuration {
    Window4096DefaultCache() {
      super(4096, false, 16);
    }
  }

  @Nested
  class Window65536OneWindowCache extends Configuration {
    Window65536OneWindowCache() {
      super(65536, true, 9);
    }
  }

  @Nested
  class Window65536DefaultCache extends Configuration {
    Window65536DefaultCache() {
      super(65536, false, 12);
    }
  }
}

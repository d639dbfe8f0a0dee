/**
 * The overlap-check SPI: metadata types, check modes and their options, the {@link
 * io.qcow2.overlap.OverlapChecker} base class that every strategy extends, and provider discovery
 * by name through {@link java.util.ServiceLoader}.
 */
module io.qcow2.overlap {
  exports io.qcow2.overlap;

  uses io.qcow2.overlap.OverlapCheckerProvider;
}

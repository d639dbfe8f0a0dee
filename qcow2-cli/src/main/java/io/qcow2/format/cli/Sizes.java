package io.qcow2.format.cli;

import java.math.BigDecimal;
import java.math.MathContext;

/** Byte counts in qemu-img's words: {@code "108 KiB"}, {@code "1.5 MiB"}, {@code "0 B"}. */
final class Sizes {
  private static final String[] UNITS = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

  private Sizes() {}

  /** Like QEMU's {@code size_to_str}: three significant digits, binary units. */
  static String human(long bytes) {
    int unit = 0;
    double value = bytes;
    while (value >= 1024 && unit < UNITS.length - 1) {
      value /= 1024;
      unit++;
    }
    BigDecimal rounded = new BigDecimal(value).round(new MathContext(3)).stripTrailingZeros();
    return rounded.toPlainString() + " " + UNITS[unit];
  }
}

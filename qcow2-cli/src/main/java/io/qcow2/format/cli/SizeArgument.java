package io.qcow2.format.cli;

import java.util.Locale;

/**
 * Byte counts typed on the command line, as QEMU's {@code qemu_strtosz} reads them: plain bytes,
 * {@code 0x} hex, or a decimal number with a binary suffix {@code b k M G T P E} (either case).
 */
final class SizeArgument {
  private static final String SUFFIXES = "bkmgtpe";

  private SizeArgument() {}

  /**
   * The bytes {@code text} names.
   *
   * @param what what the number is, for the error message ("offset", "length", "size")
   * @throws IllegalArgumentException if {@code text} is not a size or does not fit in a long
   */
  static long parse(String what, String text) {
    String s = text.strip();
    try {
      if (s.startsWith("0x") || s.startsWith("0X")) {
        long value = Long.parseLong(s.substring(2), 16);
        if (value >= 0) {
          return value;
        }
      } else if (!s.isEmpty() && !s.startsWith("+") && !s.startsWith("-")) {
        int shift = 0;
        int suffix = SUFFIXES.indexOf(Character.toLowerCase(s.charAt(s.length() - 1)));
        if (suffix >= 0) {
          shift = 10 * suffix;
          s = s.substring(0, s.length() - 1);
        }
        long value = Long.parseLong(s);
        if (value <= Long.MAX_VALUE >>> shift) {
          return value << shift;
        }
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new IllegalArgumentException(String.format(Locale.ROOT,
        "Invalid %s '%s': expected bytes, 0x hex, or a number with suffix k, M, G, T, P or E",
        what, text));
  }
}

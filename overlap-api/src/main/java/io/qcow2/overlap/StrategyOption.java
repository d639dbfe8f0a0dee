package io.qcow2.overlap;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * An open option a strategy reads from {@link OverlapCheckerSetup#options()}, as its provider
 * declares it ({@link OverlapCheckerProvider#options()}). The engine accepts these keys only when
 * that strategy is selected, and {@code qcow2 strategies --output=json} lists them.
 *
 * @param name the option key, e.g. {@code overlap-window-size}: lower-case letters, digits, dots
 *     and dashes
 * @param allowed the allowed values in words, e.g. {@code "a power of two from 1 to 65536"} or
 *     {@code "on, off"}
 * @param defaultValue the value used when the option is absent, as the user would type it
 * @param description one line saying what the option changes
 */
public record StrategyOption(String name, String allowed, String defaultValue, String description) {
  private static final Pattern NAME = Pattern.compile("[a-z][a-z0-9.-]*");

  public StrategyOption {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(allowed, "allowed");
    Objects.requireNonNull(defaultValue, "defaultValue");
    Objects.requireNonNull(description, "description");
    if (!NAME.matcher(name).matches()) {
      throw new IllegalArgumentException(String.format(
          "Invalid strategy option name '%s' (must match %s)", name, NAME.pattern()));
    }
    if (description.indexOf('\n') >= 0) {
      throw new IllegalArgumentException("Description of option '" + name + "' is not one line");
    }
  }
}

package io.qcow2.overlap;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Turns QEMU's overlap-check options into the mask of enabled {@link MetadataType}s.
 *
 * <p>Keys, as in QEMU's qcow2 driver:
 *
 * <ul>
 *   <li>{@code overlap-check}: the template, {@code none|constant|cached|all};
 *   <li>{@code overlap-check.template}: the same, in QEMU's structured form (it must not conflict
 *       with {@code overlap-check});
 *   <li>{@code overlap-check.<type>} for each {@link MetadataType#optionName()}: a boolean as QEMU
 *       parses one ({@code qapi_bool_parse}: {@code on|yes|true|y} and {@code off|no|false|n}),
 *       switching one type on or off after the template.
 * </ul>
 *
 * Other keys under {@code overlap-check} are errors; keys outside it are not looked at.
 */
public final class OverlapCheckOptions {
  /** The template option. */
  public static final String OVERLAP_CHECK = "overlap-check";
  /** The template option in structured form. */
  public static final String TEMPLATE = "overlap-check.template";
  /** The default template, as in QEMU. */
  public static final OverlapCheckMode DEFAULT_MODE = OverlapCheckMode.CACHED;

  private static final String TYPE_PREFIX = OVERLAP_CHECK + ".";

  private OverlapCheckOptions() {}

  /**
   * The enabled-type mask the options select.
   *
   * @throws IllegalArgumentException for an unknown mode, an unknown {@code overlap-check.*} key, a
   *     bad switch value, or {@code overlap-check} conflicting with {@code overlap-check.template};
   *     the message lists the allowed values
   */
  public static int enabledMask(Map<String, String> options) {
    Objects.requireNonNull(options, "options");
    String plain = options.get(OVERLAP_CHECK);
    String template = options.get(TEMPLATE);
    if (plain != null && template != null && !plain.equals(template)) {
      throw new IllegalArgumentException(String.format(
          "Conflicting values for qcow2 options '%s' ('%s') and '%s' ('%s')",
          OVERLAP_CHECK, plain, TEMPLATE, template));
    }
    OverlapCheckMode mode = DEFAULT_MODE;
    if (plain != null) {
      mode = OverlapCheckMode.parse(OVERLAP_CHECK, plain);
    } else if (template != null) {
      mode = OverlapCheckMode.parse(TEMPLATE, template);
    }
    int mask = mode.mask();
    for (Map.Entry<String, String> option : options.entrySet()) {
      String key = option.getKey();
      if (!key.startsWith(TYPE_PREFIX) || key.equals(TEMPLATE)) {
        continue;
      }
      MetadataType type = MetadataType.forOptionName(key.substring(TYPE_PREFIX.length()));
      if (type == null) {
        throw new IllegalArgumentException(String.format(
            "Unknown qcow2 option '%s'; allowed under '%s.' are: %s", key, OVERLAP_CHECK,
            String.join(", ", allowedKeys())));
      }
      if (parseSwitch(key, option.getValue())) {
        mask |= type.mask();
      } else {
        mask &= ~type.mask();
      }
    }
    return mask;
  }

  /** Whether {@code key} is one of the keys this class reads. */
  public static boolean isOverlapCheckKey(String key) {
    return key.equals(OVERLAP_CHECK) || allowedKeys().contains(key);
  }

  private static List<String> allowedKeys() {
    List<String> keys = new ArrayList<>();
    keys.add(TEMPLATE);
    for (MetadataType type : MetadataType.values()) {
      keys.add(TYPE_PREFIX + type.optionName());
    }
    return keys;
  }

  private static boolean parseSwitch(String key, String value) {
    switch (String.valueOf(value)) {
      case "on":
      case "yes":
      case "true":
      case "y":
        return true;
      case "off":
      case "no":
      case "false":
      case "n":
        return false;
      default:
        throw new IllegalArgumentException(String.format(
            "Unsupported value '%s' for qcow2 option '%s'; allowed values are: on, off "
                + "(or yes, true, y and no, false, n)", value, key));
    }
  }
}

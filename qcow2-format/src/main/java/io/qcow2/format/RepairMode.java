package io.qcow2.format;

/** What {@link ImageCheck#repair} may fix: {@code qemu-img check -r leaks|all}. */
public enum RepairMode {
  /** Free leaked clusters (refcounts higher than their references); nothing else. */
  LEAKS,
  /**
   * Leaks and corruptions: refcounts lower than their references (rebuilding the refcount
   * structure when a referenced cluster has refcount 0 or a refcount block is broken), wrong
   * {@code OFLAG_COPIED} flags, misaligned preallocated zero clusters.
   */
  ALL;

  /**
   * The mode named as on qemu-img's command line: {@code leaks} or {@code all}.
   *
   * @throws IllegalArgumentException for any other name
   */
  public static RepairMode of(String name) {
    switch (name) {
      case "leaks":
        return LEAKS;
      case "all":
        return ALL;
      default:
        throw new IllegalArgumentException(
            "Unknown option value for -r (expecting 'leaks' or 'all'): " + name);
    }
  }
}

package io.qcow2.format;

/**
 * What {@link ImageCheck#repair} did, with the fields {@code qemu-img check -r} reports.
 *
 * @param repairPass the check that repaired: its messages say what was found and repaired
 *     ({@code "Repairing cluster 7 refcount=1 reference=0"}), its counts are what it could not fix
 * @param leaksFixed leaked clusters freed
 * @param corruptionsFixed corruptions repaired (refcounts, {@code OFLAG_COPIED} flags, entries)
 * @param result the check of the image after the repair ("Double checking the fixed image now"),
 *     or {@code repairPass} when nothing was repaired or the repair failed
 * @param failure why the repair stopped before it finished (as {@code qemu-img}'s "Check failed:
 *     ..." reason), or null; the image may then be only partly repaired
 */
public record RepairResult(
    CheckResult repairPass, long leaksFixed, long corruptionsFixed, CheckResult result,
    String failure) {
  /**
   * {@code qemu-img check -r}'s exit status: 1 when the repair or the check after it failed, else
   * the check's status after the repair (0 clean, 2 corruptions left, 3 leaks left).
   */
  public int exitCode() {
    return failure != null ? CheckResult.EXIT_CHECK_FAILED : result.exitCode();
  }

  /** Whether anything was repaired (then {@link #result} is a fresh check of the image). */
  public boolean repairedAnything() {
    return leaksFixed > 0 || corruptionsFixed > 0;
  }
}

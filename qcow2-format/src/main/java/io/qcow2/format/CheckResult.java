package io.qcow2.format;

import java.util.List;

/**
 * What {@link ImageCheck} found, with the fields of {@code qemu-img check}.
 *
 * @param corruptions errors that may corrupt data: refcounts lower than the references, unaligned
 *     tables, metadata overlapping other metadata or data, wrong {@code OFLAG_COPIED} flags
 * @param leaks clusters whose refcount is higher than their references: wasted space, no harm
 * @param checkErrors problems that kept the check from completing (unreadable refcounts, tables
 *     too large to hold); a result with check errors is incomplete
 * @param messages the first messages, in the order found, worded as QEMU does
 * @param messageCount messages found in all, including the ones not kept
 * @param imageEndOffset end of the last cluster that is referenced or has a refcount
 * @param allocatedClusters guest clusters allocated in the active L1 table (compressed included)
 * @param totalClusters guest clusters of the virtual disk
 * @param fragmentedClusters allocated clusters not contiguous with their guest predecessor
 * @param compressedClusters compressed guest clusters in the active L1 table
 */
public record CheckResult(
    long corruptions,
    long leaks,
    long checkErrors,
    List<String> messages,
    long messageCount,
    long imageEndOffset,
    long allocatedClusters,
    long totalClusters,
    long fragmentedClusters,
    long compressedClusters) {
  /** Exit status of {@code qemu-img check}: the check failed to complete. */
  public static final int EXIT_CHECK_FAILED = 1;
  /** Exit status of {@code qemu-img check}: corruptions found. */
  public static final int EXIT_CORRUPTIONS = 2;
  /** Exit status of {@code qemu-img check}: leaks only. */
  public static final int EXIT_LEAKS = 3;

  public CheckResult {
    messages = List.copyOf(messages);
  }

  /** {@code qemu-img check}'s exit status: 0 clean, 1 check errors, 2 corruptions, 3 leaks only. */
  public int exitCode() {
    if (checkErrors > 0) {
      return EXIT_CHECK_FAILED;
    }
    if (corruptions > 0) {
      return EXIT_CORRUPTIONS;
    }
    return leaks > 0 ? EXIT_LEAKS : 0;
  }

  /** No corruptions, leaks or check errors. */
  public boolean isClean() {
    return exitCode() == 0;
  }
}

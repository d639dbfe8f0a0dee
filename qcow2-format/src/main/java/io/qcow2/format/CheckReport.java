package io.qcow2.format;

import java.util.ArrayList;
import java.util.List;

/**
 * What one pass of the check found and fixed: the counts {@code qemu-img check} reports, the
 * messages kept, and whether the pass could go on. Messages are counted always but formatted only
 * when kept: a broken image may have millions.
 */
final class CheckReport {
  /** The three counts a repair saves and restores around a trial comparison. */
  record Counts(long corruptions, long leaks, long checkErrors) {}

  private final int maxMessages;
  private final List<String> messages = new ArrayList<>();
  private long messageCount;

  long corruptions;
  long leaks;
  long checkErrors;
  long leaksFixed;
  long corruptionsFixed;
  /** The walk of the tables ended early (QEMU's check returns an error): nothing is compared. */
  boolean walkFailed;
  /** The stored refcounts cannot be fixed one by one: the refcount structure must be rebuilt. */
  boolean rebuild;
  /** Why a repair stopped (qemu-img's "Check failed: ..." reason), or null. */
  String failure;

  CheckReport(int maxMessages) {
    this.maxMessages = maxMessages;
  }

  void message(String format, Object... args) {
    messageCount++;
    if (messages.size() < maxMessages) {
      messages.add(args.length == 0 ? format : String.format(format, args));
    }
  }

  void corruption(String format, Object... args) {
    corruptions++;
    message(format, args);
  }

  /** A check error that ends the walk of the tables. */
  void walkFailed(String format, Object... args) {
    message(format, args);
    checkErrors++;
    walkFailed = true;
  }

  /** A repair write that was refused (it would have hit metadata): the repair stops. */
  void repairFailed(String message) {
    message(message);
    checkErrors++;
    failure = "Input/output error";
  }

  Counts counts() {
    return new Counts(corruptions, leaks, checkErrors);
  }

  void restore(Counts counts) {
    corruptions = counts.corruptions();
    leaks = counts.leaks();
    checkErrors = counts.checkErrors();
  }

  List<String> messages() {
    return messages;
  }

  long messageCount() {
    return messageCount;
  }
}

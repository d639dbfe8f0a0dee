package io.qcow2.format.cli;

import java.io.PrintWriter;
import java.util.Locale;

/**
 * A progress bar on standard error, like {@code qemu-img -p}: {@code "    (42.00/100%)"}, redrawn
 * in place. Silent unless enabled (a terminal and no {@code --quiet}).
 */
final class Progress {
  private final PrintWriter err;
  private final boolean enabled;
  private final long total;
  private long lastPermille = -1;

  Progress(PrintWriter err, boolean enabled, long total) {
    this.err = err;
    this.enabled = enabled && total > 0;
    this.total = total;
  }

  /** Shows {@code done} of the total, at most once per tenth of a percent. */
  void update(long done) {
    if (!enabled) {
      return;
    }
    long permille = Math.min(1000, done * 1000 / total);
    if (permille != lastPermille) {
      lastPermille = permille;
      err.printf(Locale.ROOT, "\r    (%.2f/100%%)", permille / 10.0);
      err.flush();
    }
  }

  /** Ends the bar's line. */
  void finish() {
    if (enabled) {
      update(total);
      err.println();
      err.flush();
    }
  }
}

/**
 * The {@code legacy} overlap-check strategy: QEMU's original {@code qcow2_check_metadata_overlap},
 * which keeps no structure of its own and scans the image's live metadata on every check.
 */
module io.qcow2.overlap.legacy {
  requires io.qcow2.overlap;

  provides io.qcow2.overlap.OverlapCheckerProvider with
      io.qcow2.overlap.legacy.LegacyOverlapCheckerProvider;
}

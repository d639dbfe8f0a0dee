/**
 * The runs overlap-check strategy ({@code runs}): every metadata run of the image in one sorted
 * list, bit-packed in small blocks behind a primitive index.
 */
module io.qcow2.overlap.runs {
  requires io.qcow2.overlap;

  provides io.qcow2.overlap.OverlapCheckerProvider with
      io.qcow2.overlap.runs.RunsOverlapCheckerProvider;
}

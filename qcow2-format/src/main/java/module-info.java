/** A qcow2 engine: open, read, write and create qcow2 images with overlap-checked host writes. */
module io.qcow2.format {
  requires io.qcow2.overlap;
  requires com.google.common;
  requires com.github.luben.zstd_jni;

  exports io.qcow2.format;
}

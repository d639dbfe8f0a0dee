/** A qcow2 engine: open, read, write and create qcow2 images with overlap-checked host writes. */
module io.qcow2.format {
  requires io.qcow2.overlap;
  requires info.picocli;
  requires com.sun.jna;
  requires com.github.luben.zstd_jni;

  exports io.qcow2.format;

  opens io.qcow2.format.cli to info.picocli;
}

/** The {@code qcow2} command-line tool over the engine; shaded into {@code qcow2.jar}. */
module io.qcow2.cli {
  requires io.qcow2.format;
  requires io.qcow2.overlap;
  requires info.picocli;
  requires com.sun.jna;
  requires io.qcow2.nbd;

  opens io.qcow2.format.cli to info.picocli;
}

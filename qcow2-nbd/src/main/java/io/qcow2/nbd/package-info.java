/**
 * An NBD server for qcow2 images: {@link io.qcow2.nbd.NbdServer} exports one open image to NBD
 * clients ({@code qemu-io}, {@code qemu-img}, {@code nbd-client}), every write going through the
 * engine's overlap checks. Everything else in the package is the server's implementation.
 */
package io.qcow2.nbd;

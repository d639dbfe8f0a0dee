/**
 * A qcow2 engine (QEMU's image format, versions 2 and 3): {@link io.qcow2.format.Qcow2Image} opens,
 * creates, reads and writes images; every host write is checked by the overlap checker the open
 * options select, and a write that would land on metadata marks the image corrupt, as QEMU does.
 */
package io.qcow2.format;

/**
 * The {@code legacy} strategy: QEMU's original overlap check, a full scan of the image's metadata
 * through {@link io.qcow2.overlap.MetadataView} on every check; no structure, no cache. It is the
 * baseline the other strategies are measured against.
 */
package io.qcow2.overlap.legacy;

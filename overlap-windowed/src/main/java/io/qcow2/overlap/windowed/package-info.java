/**
 * The {@code windowed} overlap-check strategy: the image is cut into windows of clusters; each keeps
 * its metadata as a run-length fragment list, and windows in use are expanded into per-cluster type
 * maps held in an LRU cache with a byte budget. Only {@link
 * io.qcow2.overlap.windowed.WindowedOverlapCheckerProvider} is public.
 */
package io.qcow2.overlap.windowed;

/**
 * The {@code windowed} overlap-check strategy: the image is cut into windows of clusters; each keeps
 * its metadata as a sorted run-length fragment list that checks search, metadata covering whole
 * windows is kept as window ranges, and blocks under bursts of modifications are expanded into
 * per-cluster type maps in a small LRU cache that empties when they stop. Only {@link
 * io.qcow2.overlap.windowed.WindowedOverlapCheckerProvider} is public.
 */
package io.qcow2.overlap.windowed;

/**
 * The {@code runs} overlap-check strategy: the image's metadata as one sorted list of runs (start,
 * length, types), bit-packed in blocks of at most 128 runs and found through a primitive index of
 * block starts. Only {@link io.qcow2.overlap.runs.RunsOverlapCheckerProvider} is public.
 */
package io.qcow2.overlap.runs;

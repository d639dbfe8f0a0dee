/**
 * The SPI every overlap-check strategy implements and the qcow2 engine programs against.
 *
 * <p>A strategy answers one question before every host write: does {@code [offset, offset+length)}
 * touch a cluster that holds qcow2 metadata of an enabled type? It learns where metadata lives
 * either from {@code enter}/{@code remove} events or by scanning a {@link
 * io.qcow2.overlap.MetadataView}. Strategies are found by name with {@link
 * io.qcow2.overlap.OverlapCheckers#load(String)}.
 */
package io.qcow2.overlap;

// Package output is the output side's contract, as package room is the input
// side's: the encoded packet, the description of the encoded streams, and the
// Sink interface that every destination (the archival MP4, RTMP, live HLS,
// the HLS recording) implements. It is a leaf: sinks import it and nothing
// else of the muxer, so a new destination never depends on the encoder.
package output

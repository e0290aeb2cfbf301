// Package avframe reaches the pixel and sample planes of a go-astiav frame.
//
// go-astiav v0.16.0 has no API to write a frame's data, nor to read an audio
// frame's. AVFrame's first fields are `uint8_t *data[8]` and then
// `int linesize[8]`, and astiav.Frame's only field is the *AVFrame, so the
// planes are reachable with unsafe pointer arithmetic. This package is the one
// place in roomcast that does it; everything else goes through it.
package avframe

// Package compositor owns roomcast's picture and sound: it turns the room's
// decoded tracks into one constant-frame-rate yuv420p video and one 48 kHz
// stereo audio stream, ready for the encoder.
//
// The output clock, not the inputs, drives it. Run wakes for every output
// frame on the job clock, composes the picture for a media time Latency
// behind, mixes the audio for the same window and hands both to an Output. A
// track that stalls or goes away never holds the output up: its tile keeps
// the last picture (or shows a placeholder) and its audio is silence. This is
// why FFmpeg filter graphs, which wait for every input, are not used here.
//
// Inputs arrive from each track's pipeline goroutine through PushVideo and
// PushAudio, which take a short lock and never wait for the clock. Scene
// changes (peers, tracks, mutes, speakers, layout) may come from any
// goroutine; Run picks them up at its next frame.
//
// Layouts are plain data: Layout.Arrange maps tiles to rectangles and has no
// side effects, so it is tested on its own.
package compositor

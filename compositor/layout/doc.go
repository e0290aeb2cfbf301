// Package layout owns roomcast's layout documents and the engine that turns
// one into tile placements. It is pure geometry: no cgo, no FFmpeg, no
// drawing.
//
// A Document is JSON or YAML. Its video_layout is Twilio Compositions'
// format, accepted unchanged (named regions with x_pos, y_pos, z_pos, width,
// height, max_columns, max_rows, cells_excluded, reuse, video_sources and
// video_sources_excluded), with roomcast's own fields on top (fractions,
// fit, background, gap, corner radius, overlay settings, speaker order,
// screen-share takeover, portrait variants). Parse is strict: an unknown or
// bad field is refused with its path and the fix.
//
// The presets (grid, speaker, single, screenshare, pip) are documents
// embedded from presets/.
//
// An Engine is stateful, one per job and used from one goroutine: it
// remembers which cell each source holds so that a source keeps its cell
// while it stays (Twilio's rule), and it applies the region's reuse mode.
// Arrange runs on every re-layout, not every frame; it reuses its buffers.
package layout

// Package thumbnail writes a JPEG of the composite every so often, for a
// backend to show what a job looks like: thumbnails/000001.jpg, … and
// thumbnails/latest.jpg.
//
// A thumbnail is taken from the composite frame the encoder gets, with no
// decode: the compositor's goroutine converts the frame (swscale, to full
// range) into the Writer's own buffer, and a goroutine of the Writer's
// encodes and writes it, so a slow disk never holds up a frame.
package thumbnail

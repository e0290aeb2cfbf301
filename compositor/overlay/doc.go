// Package overlay renders what the compositor draws over its tiles: name
// labels, the muted-microphone marker and the initials of a peer without
// video.
//
// Each is rendered once per change (text, size, colour) into a small
// YUV 4:2:0 image and cached; per frame the compositor only copies an
// image's rows onto the canvas (Blit), so overlays cost a memmove per row,
// never text rendering or per-pixel work. Text is set in the Go fonts
// (golang.org/x/image/font/gofont), embedded in the binary: a recording
// looks the same on every machine.
package overlay

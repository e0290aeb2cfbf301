// Package preview renders a layout to a still picture, for `roomcast
// preview`. It runs the compositor itself on a virtual clock, fed with
// sample peers, so the picture is what a job would draw: the same layout
// code, overlays and fonts.
package preview

// Package cli holds what roomcast's commands share and that imports no
// FFmpeg: the logger the flags choose, and errors that carry an exit status.
// Both roomcast and roomcast-serve (the service, which never loads FFmpeg)
// use it.
package cli

// Package roomcast holds what the roomcast binary carries with it: the demo
// room. The code lives in the sub-packages (config, room, worker, compositor,
// muxer) and the command in cmd/roomcast.
package roomcast

import (
	"embed"
	"io/fs"
)

// demo is the committed demo room, so that `demo:` works from any folder and
// in the container image.
//
//go:embed testdata/rooms/demo.yaml testdata/peers
var demo embed.FS

// DemoRoom returns the demo room as a file tree with rooms/demo.yaml and the
// peers' media under peers/, laid out as in testdata/.
func DemoRoom() fs.FS {
	sub, err := fs.Sub(demo, "testdata")
	if err != nil {
		panic(err) // the embedded tree always has testdata/
	}
	return sub
}

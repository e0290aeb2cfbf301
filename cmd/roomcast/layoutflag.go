package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/roomcast/roomcast/compositor/layout"
	"github.com/roomcast/roomcast/config"
)

// layoutFromFile reads a --layout-file: a layout document in JSON or YAML,
// validated, as the job's layout.
func layoutFromFile(path string) (config.Layout, error) {
	d, err := layout.LoadFile(path)
	if err != nil {
		return "", err
	}
	b, err := d.JSON()
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	var c bytes.Buffer
	if err := json.Compact(&c, b); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return config.Layout(c.String()), nil
}

package main

import (
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/roomcast/roomcast/compositor/layout"
	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/internal/preview"
)

func newPreviewCmd() *cobra.Command {
	var layoutName, layoutFile, resolution, out string
	var peers int
	var screen, noOverlays bool
	cmd := &cobra.Command{
		Use:   "preview",
		Short: "Render a layout to a PNG, with sample peers",
		Long: `Draws a layout as a job would, with N sample peers (their names on their
labels; the second one speaking) and, with --screen, a screen share, and
writes the picture as a PNG. Use it to see a layout before a job runs.`,
		Example: `  roomcast preview --layout grid --peers 12 --resolution 1920x1080 -o grid.png
  roomcast preview --layout speaker --peers 5 --screen --resolution 720x1280 -o speaker.png`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usage("-o: say where to write the PNG (for example -o grid.png)")
			}
			if !strings.EqualFold(filepath.Ext(out), ".png") {
				return usage("-o %s: the preview is a PNG; name it .png", out)
			}
			res, err := config.ParseResolution(resolution)
			if err != nil {
				return usage("--resolution: %v", err)
			}
			var doc *layout.Document
			if layoutFile != "" {
				if cmd.Flags().Changed("layout") {
					return usage("--layout and --layout-file: give one of them")
				}
				if doc, err = layout.LoadFile(layoutFile); err != nil {
					return usage("--layout-file: %v", err)
				}
			} else if doc, err = layout.Resolve(layoutName); err != nil {
				return usage("--layout: %v", err)
			}
			if peers < 1 || peers > preview.MaxPeers {
				return usage("--peers %d: out of range (1..%d)", peers, preview.MaxPeers)
			}
			if noOverlays {
				d := *doc
				d.Overlays = layout.Overlays{}
				doc = &d
			}
			img, err := preview.Render(cmd.Context(), preview.Options{
				Width: res.Width, Height: res.Height, Layout: doc, Peers: peers, Screen: screen,
			})
			if err != nil {
				return fmt.Errorf("preview: %w", err)
			}
			f, err := os.Create(out)
			if err != nil {
				return fmt.Errorf("preview: %w", err)
			}
			if err := png.Encode(f, img); err != nil {
				f.Close()
				return fmt.Errorf("preview: writing %s: %w", out, err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("preview: writing %s: %w", out, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), out)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&layoutName, "layout", "grid", "a preset: "+strings.Join(config.Layouts(), ", "))
	fl.StringVar(&layoutFile, "layout-file", "", "a layout document, JSON or YAML (docs/layouts.md)")
	fl.StringVar(&resolution, "resolution", "1280x720", "the canvas, WIDTHxHEIGHT")
	fl.IntVar(&peers, "peers", 4, fmt.Sprintf("sample peers, 1..%d", preview.MaxPeers))
	fl.BoolVar(&screen, "screen", false, "add a screen share by the first peer")
	fl.BoolVar(&noOverlays, "no-overlays", false, "draw no names, markers or borders")
	fl.StringVarP(&out, "output", "o", "", "the PNG to write")
	return cmd
}

package preview

import (
	"context"
	"errors"
	"fmt"
	"image"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/compositor"
	"github.com/roomcast/roomcast/compositor/layout"
	"github.com/roomcast/roomcast/internal/avframe"
	"github.com/roomcast/roomcast/internal/mediaclock"
	"github.com/roomcast/roomcast/room"
)

// MaxPeers is the most sample peers a preview shows.
const MaxPeers = 49

// Options say what to render.
type Options struct {
	Width, Height int
	// Layout is the document (nil: grid); its overlays are drawn.
	Layout *layout.Document
	// Peers is the number of sample peers, 1..MaxPeers. The second one
	// speaks, so a speaker layout shows who has the stage.
	Peers int
	// Screen adds a screen share by the first peer.
	Screen bool
}

// sampleNames label the sample peers.
var sampleNames = []string{
	"Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov", "Donald Knuth", "Margaret Hamilton",
	"Dennis Ritchie", "Frances Allen", "Ken Thompson", "Radia Perlman", "John McCarthy", "Hedy Lamarr", "Tim Berners-Lee",
	"Katherine Johnson", "Linus Torvalds", "Shafi Goldwasser", "Vint Cerf", "Sophie Wilson", "Niklaus Wirth", "Karen Spärck Jones",
	"Leslie Lamport", "Anita Borg", "Bjarne Stroustrup", "Jean Bartik", "Claude Shannon", "Mary Shaw", "Rob Pike",
	"Adele Goldberg", "Alan Kay", "Fran Bilas", "Butler Lampson", "Ida Rhodes", "Ivan Sutherland", "Evelyn Boyd Granville",
	"Robert Kahn", "Lynn Conway", "John Backus", "Kathleen Booth", "Charles Babbage", "Annie Easley", "Tony Hoare",
	"Joan Clarke", "Whitfield Diffie", "Carol Shaw", "Dana Scott", "Betty Holberton", "Robin Milner", "Marlyn Meltzer",
}

// palette gives the sample peers' pictures distinct colours (YUV).
var palette = [][3]byte{
	{81, 90, 240}, {145, 54, 34}, {41, 240, 110}, {170, 166, 16}, {106, 202, 222}, {162, 44, 142}, {120, 160, 60},
	{90, 110, 180}, {190, 100, 150}, {60, 200, 130},
}

// Render draws the layout with opts' sample peers and returns the picture.
func Render(ctx context.Context, opts Options) (*image.RGBA, error) {
	if opts.Peers < 1 || opts.Peers > MaxPeers {
		return nil, fmt.Errorf("peers: %d is out of range (1..%d)", opts.Peers, MaxPeers)
	}
	const fps = 10
	grab := &grabber{}
	defer grab.close()
	clk := mediaclock.NewVirtual()
	c, err := compositor.New(compositor.Config{
		Width: opts.Width, Height: opts.Height, FPS: fps, Layout: opts.Layout,
		Latency: 100 * time.Millisecond,
	}, clk, grab)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var frames []*astiav.Frame
	defer func() {
		for _, f := range frames {
			f.Free()
		}
	}()
	picture := func(w, h int, col [3]byte) (*astiav.Frame, error) {
		f := astiav.AllocFrame()
		frames = append(frames, f)
		f.SetWidth(w)
		f.SetHeight(h)
		f.SetPixelFormat(astiav.PixelFormatYuv420P)
		if err := f.AllocBuffer(0); err != nil {
			return nil, fmt.Errorf("preview: a sample picture: %w", err)
		}
		return f, avframe.Fill(f, 0, 0, w, h, col[0], col[1], col[2])
	}
	for i := range opts.Peers {
		id := fmt.Sprintf("peer%d", i+1)
		c.AddPeer(room.Peer{ID: id, Name: sampleNames[i]})
		c.AddTrack(room.TrackInfo{ID: id + "-cam", PeerID: id, Kind: room.KindVideo, Source: room.SourceRegular})
		c.AddTrack(room.TrackInfo{ID: id + "-mic", PeerID: id, Kind: room.KindAudio, Source: room.SourceRegular, Muted: i%4 == 3})
		f, err := picture(640, 360, palette[i%len(palette)])
		if err != nil {
			return nil, err
		}
		c.PushVideo(id+"-cam", f, 0)
	}
	if opts.Screen {
		c.AddTrack(room.TrackInfo{ID: "peer1-screen", PeerID: "peer1", Kind: room.KindVideo, Source: room.SourceScreen})
		f, err := picture(1920, 1080, [3]byte{200, 128, 128})
		if err != nil {
			return nil, err
		}
		c.PushVideo("peer1-screen", f, 0)
	}
	speaker := "peer1"
	if opts.Peers > 1 {
		speaker = "peer2"
	}
	c.SetActiveSpeakers([]room.Speaker{{PeerID: speaker, Level: 90}})
	// Long enough for the speaker to take the stage (its hysteresis).
	until := 1500 * time.Millisecond
	if err := c.Run(ctx, until); err != nil {
		return nil, err
	}
	if grab.img == nil {
		return nil, errors.New("preview: the compositor drew no frame")
	}
	return grab.img, nil
}

// grabber keeps the last frame as RGBA.
type grabber struct {
	img *image.RGBA
	sws *astiav.SoftwareScaleContext
	rgb *astiav.Frame
}

func (g *grabber) WriteVideo(f *astiav.Frame, _ int64) error {
	w, h := f.Width(), f.Height()
	if g.sws == nil {
		var err error
		g.sws, err = astiav.CreateSoftwareScaleContext(w, h, astiav.PixelFormatYuv420P, w, h, astiav.PixelFormatRgba,
			astiav.NewSoftwareScaleContextFlags(astiav.SoftwareScaleContextFlagBilinear))
		if err != nil {
			return fmt.Errorf("preview: converting to RGB: %w", err)
		}
		g.rgb = astiav.AllocFrame()
		g.rgb.SetWidth(w)
		g.rgb.SetHeight(h)
		g.rgb.SetPixelFormat(astiav.PixelFormatRgba)
		if err := g.rgb.AllocBuffer(0); err != nil {
			return fmt.Errorf("preview: %w", err)
		}
		g.img = image.NewRGBA(image.Rect(0, 0, w, h))
	}
	if err := g.sws.ScaleFrame(f, g.rgb); err != nil {
		return fmt.Errorf("preview: converting to RGB: %w", err)
	}
	src := avframe.Plane(g.rgb, 0, h*avframe.Linesize(g.rgb, 0))
	ls := avframe.Linesize(g.rgb, 0)
	for y := range h {
		copy(g.img.Pix[y*g.img.Stride:y*g.img.Stride+4*w], src[y*ls:y*ls+4*w])
	}
	return nil
}

func (g *grabber) WriteAudio([]float32, int64) error { return nil }

// close frees the converter.
func (g *grabber) close() {
	if g.sws != nil {
		g.sws.Free()
	}
	if g.rgb != nil {
		g.rgb.Free()
	}
}

package compositor

import (
	"context"
	"image"
	"image/color"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/compositor/layout"
	"github.com/roomcast/roomcast/internal/avframe"
	"github.com/roomcast/roomcast/internal/mediaclock"
	"github.com/roomcast/roomcast/room"
)

type yuv [3]byte

// picture is a copy of an output frame's planes.
type picture struct {
	w, h    int
	planes  [3][]byte
	strides [3]int
}

func (p *picture) at(x, y int) yuv {
	return yuv{
		p.planes[0][y*p.strides[0]+x],
		p.planes[1][(y/2)*p.strides[1]+x/2],
		p.planes[2][(y/2)*p.strides[2]+x/2],
	}
}

// capture is an Output that keeps copies of the frames keep asks for, every
// pts, and all audio. Hooks run after frame n is written, on Run's
// goroutine, to change the scene at an exact frame.
type capture struct {
	t        *testing.T
	keep     func(n int64) bool
	hooks    map[int64]func()
	pics     map[int64]*picture
	vpts     []int64
	apts     []int64
	alen     []int
	audio    []float32
	videoErr error
	slow     func(n int64)
	mu       sync.Mutex
}

func newCapture(t *testing.T) *capture {
	return &capture{t: t, keep: func(int64) bool { return true }, hooks: map[int64]func(){}, pics: map[int64]*picture{}}
}

func (c *capture) WriteVideo(f *astiav.Frame, pts int64) error {
	if f.Width() <= 0 || f.PixelFormat() != astiav.PixelFormatYuv420P {
		c.t.Errorf("frame %d: %dx%d %s", pts, f.Width(), f.Height(), f.PixelFormat())
	}
	c.mu.Lock()
	c.vpts = append(c.vpts, pts)
	c.mu.Unlock()
	if c.keep(pts) {
		planes, ls, err := avframe.VideoPlanes(f)
		if err != nil {
			return err
		}
		p := &picture{w: f.Width(), h: f.Height(), strides: ls}
		for i := range planes {
			p.planes[i] = append([]byte(nil), planes[i]...)
		}
		c.mu.Lock()
		c.pics[pts] = p
		c.mu.Unlock()
	}
	if c.slow != nil {
		c.slow(pts)
	}
	return c.videoErr
}

func (c *capture) WriteAudio(s []float32, pts int64) error {
	for _, v := range s {
		if v > 1 || v < -1 || v != v {
			c.t.Errorf("audio sample %v at pts %d outside [-1, 1]", v, pts)
			break
		}
	}
	c.mu.Lock()
	c.apts = append(c.apts, pts)
	c.alen = append(c.alen, len(s)/2)
	c.audio = append(c.audio, s...)
	n := int64(len(c.vpts) - 1)
	hook := c.hooks[n]
	c.mu.Unlock()
	if hook != nil {
		hook()
	}
	return nil
}

func (c *capture) pic(t *testing.T, n int64) *picture {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pics[n]
	if p == nil {
		t.Fatalf("frame %d was not captured (%d frames written)", n, len(c.vpts))
	}
	return p
}

// solid makes a w x h frame of one colour.
func solid(t *testing.T, w, h int, pf astiav.PixelFormat, c yuv) *astiav.Frame {
	t.Helper()
	f := astiav.AllocFrame()
	t.Cleanup(f.Free)
	f.SetWidth(w)
	f.SetHeight(h)
	f.SetPixelFormat(pf)
	if err := f.AllocBuffer(0); err != nil {
		t.Fatal(err)
	}
	if err := avframe.Fill(f, 0, 0, w, h, c[0], c[1], c[2]); err != nil {
		t.Fatal(err)
	}
	return f
}

func near(a, b yuv, tol int) bool {
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < -tol || d > tol {
			return false
		}
	}
	return true
}

func wantColor(t *testing.T, what string, got, want yuv) {
	t.Helper()
	if !near(got, want, 3) {
		t.Errorf("%s: YUV %v, want %v", what, got, want)
	}
}

var background = yuv{bgY, bgU, bgV}

func centre(r image.Rectangle) (int, int) { return (r.Min.X + r.Max.X) / 2, (r.Min.Y + r.Max.Y) / 2 }

// plainDoc is a preset as the tests read pictures: letterboxed, on the old
// grey background, with square corners and no overlays, and (unless share)
// with screen shares as tiles like any other.
func plainDoc(name string, share bool) *layout.Document {
	d, err := layout.Preset(name)
	if err != nil {
		panic(err)
	}
	c := *d
	c.Fit = layout.FitContain
	c.Radius = layout.Length{}
	c.Overlays = layout.Overlays{}
	c.Background = color.RGBA{28, 28, 28, 255} // Y 40: the background constant
	if !share {
		c.Screenshare = layout.ScreenshareOff
	}
	return &c
}

// arrange is where doc puts the tiles given, in join order of their peers:
// "A" is peer A's camera, "A/T" its track T (a screen share when T ends in
// "screen"); active is the active speaker. One rectangle per tile, in the
// order given.
func arrange(doc *layout.Document, w, h int, active string, tiles ...string) []image.Rectangle {
	return arrangeOn(layout.NewEngine(doc), w, h, active, tiles...)
}

// arrangeOn is arrange on an engine that has a history: layouts that keep
// tiles in their cells place them by what came before.
func arrangeOn(e *layout.Engine, w, h int, active string, tiles ...string) []image.Rectangle {
	order := map[string]int{}
	var srcs []layout.Source
	for _, tl := range tiles {
		peer, track, _ := strings.Cut(tl, "/")
		if _, ok := order[peer]; !ok {
			order[peer] = len(order) + 1
		}
		s := layout.Source{Key: "p:" + peer, PeerID: peer, Name: peer, JoinOrder: order[peer], HasVideo: true, ActiveSpeaker: peer == active}
		if track != "" {
			s.Key, s.TrackID, s.Screen, s.ActiveSpeaker = "t:"+track, track, strings.HasSuffix(track, "screen"), false
		}
		srcs = append(srcs, s)
	}
	pl := e.Arrange(srcs, w, h)
	rects := make([]image.Rectangle, len(pl))
	for i, p := range pl {
		if p.Shown {
			rects[i] = p.Rect
		}
	}
	return rects
}

// peers are n peer ids, "A", "B", ….
func peers(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = string(rune('A' + i))
	}
	return ids
}

// gridRects is where a grid puts n peers that joined in order.
func gridRects(n, w, h int) []image.Rectangle {
	return arrange(plainDoc("grid", false), w, h, "", peers(n)...)
}

type rig struct {
	c   *Compositor
	out *capture
	clk *mediaclock.Virtual
}

func newRig(t *testing.T, cfg Config) *rig {
	t.Helper()
	clk := mediaclock.NewVirtual()
	out := newCapture(t)
	c, err := New(cfg, clk, out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &rig{c: c, out: out, clk: clk}
}

func (r *rig) run(t *testing.T, until time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.c.Run(ctx, until); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// peer adds a peer with a camera track named id+"-cam" and a microphone
// named id+"-mic".
func (r *rig) peer(id string) {
	r.c.AddPeer(room.Peer{ID: id, Name: id})
	r.c.AddTrack(room.TrackInfo{ID: id + "-cam", PeerID: id, Kind: room.KindVideo, Source: room.SourceRegular})
	r.c.AddTrack(room.TrackInfo{ID: id + "-mic", PeerID: id, Kind: room.KindAudio, Source: room.SourceRegular})
}

func videoPlanes(t *testing.T, f *astiav.Frame) ([3][]byte, [3]int) {
	t.Helper()
	p, ls, err := avframe.VideoPlanes(f)
	if err != nil {
		t.Fatal(err)
	}
	return p, ls
}

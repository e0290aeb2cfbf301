package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/roomcast/roomcast/internal/apitest"
	"github.com/roomcast/roomcast/internal/rtmptest"
	"github.com/roomcast/roomcast/worker"
)

// Hostile media: peer files made by ffmpeg and then cut, patched or mixed
// byte by byte, as a broken or malicious sender would send them. They are
// IVF files (a 32-byte header, then a 12-byte header per frame), so the
// surgery needs no container writer; the file room demuxes them with FFmpeg
// and sends each frame as RTP like any other.

// ivf is a parsed IVF file.
type ivf struct {
	header []byte // 32 bytes: signature, FourCC, size, time base, count
	frames [][]byte
	pts    []uint64
}

// encoder makes the clips the hostile streams are cut from, each once.
type encoder struct {
	t    *testing.T
	done map[string]ivf
}

// encode gives seconds of a moving test pattern of the given size at 15
// fps in codec (libvpx or libvpx-vp9), a keyframe every gop frames: a copy
// the caller may cut up.
func (e *encoder) encode(codec string, w, h, seconds, gop int) ivf {
	return e.cached(fmt.Sprint(codec, w, h, seconds, gop), func() ivf { return encodeIVF(e.t, codec, w, h, seconds, gop) })
}

func (e *encoder) cached(key string, make func() ivf) ivf {
	v, ok := e.done[key]
	if !ok {
		v = make()
		e.done[key] = v
	}
	c := ivf{header: bytes.Clone(v.header), pts: slices.Clone(v.pts)}
	for _, f := range v.frames {
		c.frames = append(c.frames, bytes.Clone(f))
	}
	return c
}

func (e *encoder) encodeH264(w, h, seconds, gop int) ivf {
	return e.cached(fmt.Sprint("h264", w, h, seconds, gop), func() ivf { return encodeH264(e.t, w, h, seconds, gop) })
}

func encodeIVF(t *testing.T, codec string, w, h, seconds, gop int) ivf {
	t.Helper()
	path := filepath.Join(t.TempDir(), "src.ivf")
	args := []string{"-v", "error", "-y", "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=s=%dx%d:r=15:d=%d", w, h, seconds),
		"-c:v", codec, "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k", "-g", fmt.Sprint(gop), "-keyint_min", fmt.Sprint(gop),
		"-auto-alt-ref", "0", "-lag-in-frames", "0", "-f", "ivf", path}
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("encoding %s: %v\n%s", codec, err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := parseIVF(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

func parseIVF(b []byte) (ivf, error) {
	if len(b) < 32 || string(b[:4]) != "DKIF" {
		return ivf{}, fmt.Errorf("not an IVF file")
	}
	v := ivf{header: bytes.Clone(b[:32])}
	for p := 32; p < len(b); {
		if p+12 > len(b) {
			return ivf{}, fmt.Errorf("frame header at %d cut short", p)
		}
		n := int(binary.LittleEndian.Uint32(b[p:]))
		pts := binary.LittleEndian.Uint64(b[p+4:])
		if p+12+n > len(b) {
			return ivf{}, fmt.Errorf("frame at %d cut short", p)
		}
		v.frames = append(v.frames, bytes.Clone(b[p+12:p+12+n]))
		v.pts = append(v.pts, pts)
		p += 12 + n
	}
	return v, nil
}

func (v ivf) write(t *testing.T, path string) {
	t.Helper()
	var b bytes.Buffer
	b.Write(v.header)
	binary.LittleEndian.PutUint32(b.Bytes()[24:], uint32(len(v.frames)))
	for i, f := range v.frames {
		var h [12]byte
		binary.LittleEndian.PutUint32(h[:], uint32(len(f)))
		binary.LittleEndian.PutUint64(h[4:], v.pts[i])
		b.Write(h[:])
		b.Write(f)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// encodeH264 encodes like encodeIVF with x264 (constrained baseline, one
// slice a frame) and wraps the Annex-B access units in an IVF file of
// FourCC H264, which FFmpeg demuxes too.
func encodeH264(t *testing.T, w, h, seconds, gop int) ivf {
	t.Helper()
	path := filepath.Join(t.TempDir(), "src.h264")
	args := []string{"-v", "error", "-y", "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=s=%dx%d:r=15:d=%d", w, h, seconds),
		"-c:v", "libx264", "-profile:v", "baseline", "-preset", "ultrafast", "-tune", "zerolatency", "-threads", "1",
		"-x264-params", fmt.Sprintf("keyint=%d:min-keyint=%d:scenecut=0", gop, gop), "-b:v", "200k", "-f", "h264", path}
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("encoding H.264: %v\n%s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var nalus h264.AnnexB
	if err := nalus.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	v := ivf{header: make([]byte, 32)}
	copy(v.header, "DKIF")
	binary.LittleEndian.PutUint16(v.header[6:], 32)
	copy(v.header[8:], "H264")
	binary.LittleEndian.PutUint16(v.header[12:], uint16(w))
	binary.LittleEndian.PutUint16(v.header[14:], uint16(h))
	binary.LittleEndian.PutUint32(v.header[16:], 15) // time base 1/15
	binary.LittleEndian.PutUint32(v.header[20:], 1)
	var au []byte
	for _, n := range nalus {
		au = append(append(au, 0, 0, 0, 1), n...)
		if typ := h264.NALUType(n[0] & 0x1f); typ == h264.NALUTypeIDR || typ == h264.NALUTypeNonIDR {
			v.pts = append(v.pts, uint64(len(v.frames)))
			v.frames = append(v.frames, au)
			au = nil
		}
	}
	return v
}

// h264Key reports whether an Annex-B access unit holds an IDR slice.
func h264Key(au []byte) bool {
	var nalus h264.AnnexB
	if nalus.Unmarshal(au) != nil {
		return false
	}
	for _, n := range nalus {
		if h264.NALUType(n[0]&0x1f) == h264.NALUTypeIDR {
			return true
		}
	}
	return false
}

// h264SetSize rewrites the SPS in an access unit to claim w x h (multiples
// of 16), keeping every field the slices depend on and dropping the VUI.
func h264SetSize(t *testing.T, au []byte, w, h int) []byte {
	t.Helper()
	var nalus h264.AnnexB
	if err := nalus.Unmarshal(au); err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, n := range nalus {
		if h264.NALUType(n[0]&0x1f) == h264.NALUTypeSPS {
			var sps h264.SPS
			if err := sps.Unmarshal(n); err != nil {
				t.Fatal(err)
			}
			if sps.ProfileIdc != 66 || sps.PicOrderCntType != 2 || !sps.FrameMbsOnlyFlag {
				t.Fatalf("SPS %+v: want constrained baseline, POC type 2, frames only", sps)
			}
			var bw bitWriter
			bw.bits(uint64(n[0]), 8)
			bw.bits(uint64(sps.ProfileIdc), 8)
			bw.bits(uint64(n[2]), 8) // constraint flags
			bw.bits(uint64(sps.LevelIdc), 8)
			bw.ue(sps.ID)
			bw.ue(sps.Log2MaxFrameNumMinus4)
			bw.ue(2) // pic_order_cnt_type
			bw.ue(sps.MaxNumRefFrames)
			bw.bits(0, 1) // gaps_in_frame_num_value_allowed_flag
			bw.ue(uint32(w/16 - 1))
			bw.ue(uint32(h/16 - 1))
			bw.bits(1, 1) // frame_mbs_only_flag
			bw.bits(b2u(sps.Direct8x8InferenceFlag), 1)
			bw.bits(0, 1) // frame_cropping_flag
			bw.bits(0, 1) // vui_parameters_present_flag
			bw.bits(1, 1) // rbsp_stop_one_bit
			n = emulationPrevent(bw.bytes())
		}
		out = append(append(out, 0, 0, 0, 1), n...)
	}
	return out
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// bitWriter writes big-endian bits and Exp-Golomb codes.
type bitWriter struct {
	buf []byte
	n   int // bits written
}

func (w *bitWriter) bits(v uint64, n int) {
	for i := n - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.buf = append(w.buf, 0)
		}
		if v>>i&1 == 1 {
			w.buf[len(w.buf)-1] |= 0x80 >> (w.n % 8)
		}
		w.n++
	}
}

func (w *bitWriter) ue(v uint32) {
	x := uint64(v) + 1
	l := 0
	for x>>l > 1 {
		l++
	}
	w.bits(0, l)
	w.bits(x, l+1)
}

func (w *bitWriter) bytes() []byte { return w.buf }

// emulationPrevent inserts the 0x03 bytes that keep a NAL unit's payload
// free of start codes.
func emulationPrevent(nalu []byte) []byte {
	out := []byte{nalu[0]}
	zeros := 0
	for _, b := range nalu[1:] {
		if zeros >= 2 && b <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// fps15 is the frame index of a time in seconds at the clips' 15 fps.
func fps15(sec float64) int { return int(sec * 15) }

// vp8Key reports whether a VP8 frame is a keyframe (RFC 6386 9.1: bit 0 of
// the frame tag is 0).
func vp8Key(f []byte) bool { return len(f) >= 10 && f[0]&1 == 0 }

// vp8SetSize overwrites a VP8 keyframe's 14-bit width and height (the
// scaling bits cleared).
func vp8SetSize(f []byte, w, h int) {
	binary.LittleEndian.PutUint16(f[6:], uint16(w&0x3fff))
	binary.LittleEndian.PutUint16(f[8:], uint16(h&0x3fff))
}

// vp9Key reports whether a VP9 profile 0 frame is a keyframe: frame marker
// 2, profile 0, not show_existing_frame, frame_type 0.
func vp9Key(f []byte) bool {
	return len(f) >= 9 && f[0]&0xfc == 0x80 && f[1] == 0x49 && f[2] == 0x83 && f[3] == 0x42
}

// vp9SetSize overwrites a VP9 profile 0 keyframe's frame size. The
// uncompressed header is 8 bits of marker, profile and flags, the 24-bit
// sync code, 4 bits of colour config (colour space and range), then
// width-1 and height-1 in 16 bits each: bits 36..67.
func vp9SetSize(f []byte, w, h int) {
	v := uint64(w-1)<<16 | uint64(h-1)
	for i := range 32 {
		bit := 36 + i
		mask := byte(0x80 >> (bit % 8))
		if v>>(31-i)&1 == 1 {
			f[bit/8] |= mask
		} else {
			f[bit/8] &^= mask
		}
	}
}

// hostileCase is one kind of hostile stream, made from healthy clips.
type hostileCase struct {
	name string
	what string
	make func(e *encoder) ivf
}

// containerCases break a whole media file of testdata/peers.
var containerCases = []struct {
	name, src, what string
	bad             func([]byte) []byte
}{
	{"webm-corrupt", "dave.webm", "dave.webm (VP8 + Opus) with random bytes over 40-60% of the file, container and all", func(b []byte) []byte {
		rng := rand.New(rand.NewPCG(5, 6))
		for i := len(b) * 4 / 10; i < len(b)*6/10; i++ {
			b[i] = byte(rng.Uint32())
		}
		return b
	}},
	{"mkv-cut", "carol.mkv", "carol.mkv (H.264 + Opus in Matroska) cut off at half its bytes", func(b []byte) []byte { return b[:len(b)/2] }},
}

// hostileAfter is when each hostile stream turns bad: a valid start first,
// as a sender that goes wrong mid-call.
const hostileAfter = 1.0

var hostileCases = []hostileCase{
	{"truncated", "every VP8 keyframe after 1 s cut to a third of its bytes", func(e *encoder) ivf {
		v := e.encode("libvpx", 320, 240, 6, 15)
		for i := fps15(hostileAfter); i < len(v.frames); i++ {
			if vp8Key(v.frames[i]) {
				v.frames[i] = v.frames[i][:len(v.frames[i])/3]
			}
		}
		return v
	}},
	{"big-vp8", "VP8 keyframes after 1 s claiming 8000x8000 (within FFmpeg's own limit: 96 MB a frame)", func(e *encoder) ivf {
		v := e.encode("libvpx", 320, 240, 6, 15)
		for i := fps15(hostileAfter); i < len(v.frames); i++ {
			if vp8Key(v.frames[i]) {
				vp8SetSize(v.frames[i], 8000, 8000)
			}
		}
		return v
	}},
	{"wide-vp8", "VP8 keyframes after 1 s claiming 16000x2000 (under FFmpeg's limit and roomcast's area limit, over its 8192 a side)", func(e *encoder) ivf {
		v := e.encode("libvpx", 320, 240, 6, 15)
		for i := fps15(hostileAfter); i < len(v.frames); i++ {
			if vp8Key(v.frames[i]) {
				vp8SetSize(v.frames[i], 16000, 2000)
			}
		}
		return v
	}},
	{"huge-vp9", "VP9 keyframes after 1 s claiming 16384x16384, then 8192x8192", func(e *encoder) ivf {
		v := e.encode("libvpx-vp9", 320, 240, 6, 15)
		n := 0
		for i := fps15(hostileAfter); i < len(v.frames); i++ {
			if vp9Key(v.frames[i]) {
				if n++; n%2 == 1 {
					vp9SetSize(v.frames[i], 16384, 16384)
				} else {
					vp9SetSize(v.frames[i], 8192, 8192)
				}
			}
		}
		return v
	}},
	{"resizing", "VP8, every frame a keyframe of another size (320x240, 64x480, 640x64, 2x2, 1280x720, ...)", func(e *encoder) ivf {
		sizes := [][2]int{{320, 240}, {64, 480}, {640, 64}, {2, 2}, {1280, 720}, {176, 144}, {16, 1024}}
		var clips []ivf
		for _, s := range sizes {
			clips = append(clips, e.encode("libvpx", s[0], s[1], 1, 1))
		}
		// Six seconds: frame i is frame i/7 of the i%7th clip.
		v := e.encode("libvpx", 320, 240, 6, 15)
		for i := range v.frames {
			c := clips[i%len(clips)]
			v.frames[i] = c.frames[i/len(clips)%len(c.frames)]
		}
		return v
	}},
	{"codec-switch", "a VP8 track whose frames turn into VP9 after 1 s", func(e *encoder) ivf {
		v := e.encode("libvpx", 320, 240, 6, 15)
		w := e.encode("libvpx-vp9", 320, 240, 6, 15)
		for i := fps15(hostileAfter); i < len(v.frames) && i < len(w.frames); i++ {
			v.frames[i] = w.frames[i]
		}
		return v
	}},
	{"garbage", "VP8, random bytes in every frame after 1 s (about half of them parse as keyframes of random sizes)", func(e *encoder) ivf {
		v := e.encode("libvpx", 320, 240, 6, 15)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := fps15(hostileAfter); i < len(v.frames); i++ {
			for j := range v.frames[i] {
				v.frames[i][j] = byte(rng.Uint32())
			}
		}
		return v
	}},
	{"h264-truncated", "H.264: every IDR access unit after 1 s cut to a third of its bytes", func(e *encoder) ivf {
		v := e.encodeH264(320, 240, 6, 15)
		for i := fps15(hostileAfter); i < len(v.frames); i++ {
			if h264Key(v.frames[i]) {
				v.frames[i] = v.frames[i][:len(v.frames[i])/3]
			}
		}
		return v
	}},
	{"h264-huge", "H.264: the SPS before each IDR after 1 s claiming 8192x8192 (FFmpeg alone would allocate a 16-frame DPB of them), then 16384x16384", func(e *encoder) ivf {
		v := e.encodeH264(320, 240, 6, 15)
		n := 0
		for i := fps15(hostileAfter); i < len(v.frames); i++ {
			if h264Key(v.frames[i]) {
				if n++; n%2 == 1 {
					v.frames[i] = h264SetSize(e.t, v.frames[i], 8192, 8192)
				} else {
					v.frames[i] = h264SetSize(e.t, v.frames[i], 16384, 16384)
				}
			}
		}
		return v
	}},
	{"h264-garbage", "H.264: after 1 s every access unit an IDR NAL header followed by random bytes", func(e *encoder) ivf {
		v := e.encodeH264(320, 240, 6, 15)
		rng := rand.New(rand.NewPCG(3, 4))
		for i := fps15(hostileAfter); i < len(v.frames); i++ {
			f := v.frames[i]
			for j := 5; j < len(f); j++ {
				f[j] = byte(rng.Uint32())
				if j >= 2 && f[j-2] == 0 && f[j-1] == 0 && f[j] <= 3 {
					f[j] = 0xff // no start code inside
				}
			}
			f[4] = 0x65
		}
		return v
	}},
}

// TestServeHostileMedia runs two jobs through serve, one on a room whose
// peers send every kind of hostile stream above beside a healthy peer, one
// on a healthy room. The healthy job must run on untouched, the hostile
// job must survive with its bad tiles frozen and its healthy tile moving,
// and serve must stay up.
func TestServeHostileMedia(t *testing.T) {
	start := time.Now()
	v := apitest.New(t)
	rooms := loopedRoom(t)
	alice, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "peers", "alice.webm"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rooms, "alice.webm"), alice, 0o644); err != nil {
		t.Fatal(err)
	}
	manifest := "peers:\n  - name: alice\n    media: alice.webm\n"
	enc := &encoder{t: t, done: map[string]ivf{}}
	for _, c := range hostileCases {
		c.make(enc).write(t, filepath.Join(rooms, c.name+".ivf"))
		manifest += fmt.Sprintf("  - name: %s\n    media: %s.ivf\n", c.name, c.name)
	}
	// Whole files broken, as a recording cut short or a disk's bad
	// sectors would: the container itself, and the Opus in it.
	for _, c := range containerCases {
		b, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "peers", c.src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(rooms, c.name+filepath.Ext(c.src)), c.bad(b), 0o644); err != nil {
			t.Fatal(err)
		}
		manifest += fmt.Sprintf("  - name: %s\n    media: %s%s\n", c.name, c.name, filepath.Ext(c.src))
	}
	if err := os.WriteFile(filepath.Join(rooms, "alice-only.yaml"), []byte("peers:\n  - name: alice\n    media: alice.webm\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rooms, "hostile.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("hostile clips made in %v", time.Since(start).Round(time.Millisecond))
	s := startServe(t, v, t.TempDir(), rooms)
	job := func(id, room string) map[string]any {
		return map[string]any{"id": id, "meetingUrl": room, "record": true, "fps": 15, "maxDuration": "8s",
			"resolution": map[string]int{"width": 320, "height": 180}}
	}
	healthy := job("healthy", "file:long.yaml")
	delete(healthy, "maxDuration")
	if code := s.call("POST", "/v1/jobs", healthy, nil); code != 201 {
		t.Fatalf("POST healthy = %d", code)
	}
	s.waitJob("healthy", "running", running)
	before := childrenOf(t, s.proc.cmd.Process.Pid)
	if code := s.call("POST", "/v1/jobs", job("hostile", "file:hostile.yaml"), nil); code != 201 {
		t.Fatalf("POST hostile = %d", code)
	}
	// The hostile job's process, for its peak memory.
	var child int
	for deadline := time.Now().Add(10 * time.Second); child == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, k := range childrenOf(t, s.proc.cmd.Process.Pid) {
			if !slices.Contains(before, k) {
				child = k
			}
		}
	}
	var peakKB int
	var st worker.State
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if kb := vmHWM(child); kb > peakKB {
			peakKB = kb
		}
		st = s.job("hostile")
		if st.State == worker.Stopped || st.State == worker.Failed {
			break
		}
		if h := s.job("healthy"); !running(h) {
			t.Fatalf("the healthy job is %s (%q) while the hostile one runs", h.State, h.Reason)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hostile job never ended: %+v", st)
		}
	}
	late := float64(st.Stats.LateFrames) / float64(max(1, st.Stats.Frames))
	t.Logf("hostile job: %s (%q), %d frames, %d late (%.1f%%), %d dropped, peak RSS %d MiB",
		st.State, st.Reason, st.Stats.Frames, st.Stats.LateFrames, 100*late, st.Stats.DroppedFrames, peakKB/1024)
	if st.State != worker.Stopped || st.Stats.Elapsed < 7.5 {
		t.Errorf("the hostile job ended %s (%q) after %.1f s, want stopped at its 8 s", st.State, st.Reason, st.Stats.Elapsed)
	}
	// Before decoders had a size limit it peaked at 1.6-1.8 GiB with 24-73%
	// of its frames late. Memory tells the two apart on any machine; late
	// frames reached 14% on the loaded shared machine, so their bound is
	// loose.
	if peakKB > 600*1024 || late > 0.5 {
		t.Errorf("the hostile job peaked at %d MiB with %.0f%% of its frames late, want under 600 MiB and 50%%", peakKB/1024, 100*late)
	}
	mp4 := s.download("hostile", "recording.mp4")
	if d := playableSeconds(t, mp4); d < 7.5 {
		t.Errorf("the hostile job's recording plays %.2f s, want 8", d)
	}
	if errs, key := rtmptest.DecodeCheck(t, mp4); errs != "" || !key {
		t.Errorf("the hostile job's recording: decode errors %q, first packet a keyframe %v", errs, key)
	}
	// The healthy peer's tile keeps moving after the others turned bad:
	// its frames differ from one second to the next.
	var prev []byte
	for _, sec := range []float64{1.5, 2.5, 3.5, 4.5, 5.5} { // the clips end at 6 s, and the grid with them
		f := frameRGB(t, mp4, sec, 320, 180)
		tile := crop(f, 320, aliceTile)
		if r, g, b := meanRGB(tile); r < 150 || g > 100 || b > 100 {
			t.Errorf("at %.1f s alice's tile is RGB %d,%d,%d, want her red", sec, r, g, b)
		}
		if prev != nil && bytes.Equal(prev, tile) {
			t.Errorf("alice's tile froze at %.1f s", sec)
		}
		prev = tile
	}

	// Had FFmpeg crashed (a SIGSEGV, or abort() on a failed assertion),
	// Go's signal handler would have ended the job's process with its
	// crash report: a third job's process, made to abort so, fails that
	// job alone.
	before = childrenOf(t, s.proc.cmd.Process.Pid)
	if code := s.call("POST", "/v1/jobs", job("crash", "file:alice-only.yaml"), nil); code != 201 {
		t.Fatalf("POST crash = %d", code)
	}
	s.waitJob("crash", "running", running)
	for _, k := range childrenOf(t, s.proc.cmd.Process.Pid) {
		if !slices.Contains(before, k) {
			if err := syscall.Kill(k, syscall.SIGABRT); err != nil {
				t.Fatal(err)
			}
		}
	}
	crashed := s.waitJob("crash", "failed", func(st worker.State) bool { return st.State == worker.Failed })
	t.Logf("a job whose process aborts: failed (%q)", crashed.Reason)
	if !strings.Contains(crashed.Reason, "process") {
		t.Errorf("the aborted job's reason %q does not say its process ended", crashed.Reason)
	}

	h := s.job("healthy")
	if !running(h) || h.Stats.Elapsed < st.Stats.Elapsed {
		t.Fatalf("the healthy job is %s after %.1f s", h.State, h.Stats.Elapsed)
	}
	if code := s.call("DELETE", "/v1/jobs/healthy?wait=true", nil, &h); code != 200 || h.State != worker.Stopped {
		t.Fatalf("stopping the healthy job = %d %s %q", code, h.State, h.Reason)
	}
	healthyLate := float64(h.Stats.LateFrames) / float64(max(1, h.Stats.Frames))
	t.Logf("healthy job: %d frames, %d late (%.1f%%)", h.Stats.Frames, h.Stats.LateFrames, 100*healthyLate)
	hm := s.download("healthy", "recording.mp4")
	if pr := rtmptest.ProbeFile(t, hm); pr.Duration() < h.Stats.Elapsed-1 {
		t.Errorf("the healthy recording lasts %.1f s, want %.1f", pr.Duration(), h.Stats.Elapsed)
	}
	if errs, key := rtmptest.DecodeCheck(t, hm); errs != "" || !key {
		t.Errorf("the healthy recording: decode errors %q, first packet a keyframe %v", errs, key)
	}

	// What each hostile track did, from serve's log once it has stopped.
	s.proc.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.proc.wait(t, 40*time.Second); err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}
	errs := map[string]int{}
	for _, line := range strings.Split(s.proc.stderr.String(), "\n") {
		var rec struct {
			Msg, Track, Job string
			Errors          int
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Job == "hostile" && rec.Msg == "decode error" {
			errs[rec.Track] = max(errs[rec.Track], rec.Errors)
		}
	}
	for _, c := range hostileCases {
		t.Logf("%-14s decode errors logged: %d (%s)", c.name, errs["PA_"+c.name+"/video"], c.what)
	}
	for _, c := range containerCases {
		t.Logf("%-14s decode errors logged: video %d, audio %d (%s)", c.name, errs["PA_"+c.name+"/video"], errs["PA_"+c.name+"/audio"], c.what)
	}
	if errs["PA_alice/video"] > 0 {
		t.Errorf("the healthy peer had %d decode errors", errs["PA_alice/video"])
	}
}

// vmHWM is a process's peak resident memory in KiB, 0 once it is gone.
func vmHWM(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// aliceTile is where the grid puts the first of fourteen peers on a
// 320x180 canvas: the tile's upper part, clear of its label and border,
// where her white square moves across.
var aliceTile = image.Rect(10, 4, 80, 20)

func crop(rgb []byte, w int, r image.Rectangle) []byte {
	var out []byte
	for y := r.Min.Y; y < r.Max.Y; y++ {
		out = append(out, rgb[(y*w+r.Min.X)*3:(y*w+r.Max.X)*3]...)
	}
	return out
}

func meanRGB(rgb []byte) (r, g, b int) {
	n := len(rgb) / 3
	for i := 0; i < n; i++ {
		r += int(rgb[3*i])
		g += int(rgb[3*i+1])
		b += int(rgb[3*i+2])
	}
	return r / max(1, n), g / max(1, n), b / max(1, n)
}

package janustest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roomcast/roomcast/internal/syncbuf"
)

// Bin is where Debian's janus package puts the server.
const (
	Bin       = "/usr/bin/janus"
	pluginDir = "/usr/lib/x86_64-linux-gnu/janus"
)

// InstallHint is what to run when Janus is missing.
const InstallHint = "run scripts/install-deps.sh test (apt-get install janus: Debian 12's janus 1.1.2)"

var rtpSeq atomic.Int64

// Server is a real Janus in its own network namespace and configuration
// folder, with the VideoRoom plugin and the HTTP transport only.
type Server struct {
	NS       *Netns
	Dir      string
	Port     int
	AdminKey string
	RTPPorts [2]int

	mu     sync.Mutex
	cmd    *exec.Cmd
	log    *syncbuf.Buffer
	waited chan struct{}
}

// FindBin finds janus, or says how to install it.
func FindBin() (string, error) {
	if p := os.Getenv("JANUS_BIN"); p != "" {
		return p, nil
	}
	if _, err := os.Stat(Bin); err == nil {
		return Bin, nil
	}
	if p, err := exec.LookPath("janus"); err == nil {
		return p, nil
	}
	return "", errors.New("janus not found: " + InstallHint)
}

// New prepares a Janus in dir, in a new network namespace (or in the one
// Main runs the tests in); Start runs it and Close removes it all.
func New(dir string) (*Server, error) {
	if _, err := FindBin(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(pluginDir, "plugins", "libjanus_videoroom.so")); err != nil {
		return nil, fmt.Errorf("janus's VideoRoom plugin is missing (%w): %s", err, InstallHint)
	}
	ns, err := NewNetns()
	if err != nil {
		return nil, err
	}
	s := &Server{NS: ns, Dir: dir, Port: 8088, AdminKey: "rc-admin-" + randomHex(6)}
	// Servers sharing Main's namespace need ports of their own.
	k := int(rtpSeq.Add(1) - 1)
	if ns.inside {
		s.Port = 18088 + k
	}
	s.RTPPorts = [2]int{40000 + 400*(k%20), 40000 + 400*(k%20) + 399}
	if err := s.writeConfig(); err != nil {
		ns.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) writeConfig() error {
	for _, d := range []string{"conf", "plugins", "transports", "events", "loggers"} {
		if err := os.MkdirAll(filepath.Join(s.Dir, d), 0o755); err != nil {
			return err
		}
	}
	links := map[string]string{
		"plugins/libjanus_videoroom.so":     "plugins/libjanus_videoroom.so",
		"transports/libjanus_http.so":       "transports/libjanus_http.so",
		"transports/libjanus_websockets.so": "transports/libjanus_websockets.so",
	}
	for dst, src := range links {
		p := filepath.Join(s.Dir, dst)
		_ = os.Remove(p)
		if err := os.Symlink(filepath.Join(pluginDir, src), p); err != nil {
			return err
		}
	}
	files := map[string]string{
		"janus.jcfg": fmt.Sprintf(`general: {
	configs_folder = "%[1]s/conf"
	plugins_folder = "%[1]s/plugins"
	transports_folder = "%[1]s/transports"
	events_folder = "%[1]s/events"
	loggers_folder = "%[1]s/loggers"
	admin_secret = "%[2]s"
	interface = "%[3]s"
	session_timeout = 60
	debug_level = 4
}
media: {
	rtp_port_range = "%[4]d-%[5]d"
}
nat: {
	ice_ignore_list = "vmnet"
}
`, s.Dir, s.AdminKey, Addr, s.RTPPorts[0], s.RTPPorts[1]),
		"janus.transport.http.jcfg": fmt.Sprintf(`general: {
	json = "indented"
	base_path = "/janus"
	http = true
	port = %d
	ip = "%s"
	https = false
}
admin: {
	admin_http = false
}
`, s.Port, Addr),
		"janus.transport.websockets.jcfg": `general: {
	ws = false
	wss = false
}
admin: {
	admin_ws = false
}
`,
		"janus.plugin.videoroom.jcfg": fmt.Sprintf("general: {\n\tadmin_key = %q\n}\n", s.AdminKey),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(s.Dir, "conf", name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Start runs Janus (again, after Kill: same ports, but its rooms are gone)
// and waits until its HTTP API answers.
func (s *Server) Start() error {
	bin, err := FindBin()
	if err != nil {
		return err
	}
	cmd := s.NS.Command(bin, "-F", filepath.Join(s.Dir, "conf"), "-o", "-D")
	w := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting janus: %w", err)
	}
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waited) }()
	s.mu.Lock()
	s.cmd, s.log, s.waited = cmd, w, waited
	s.mu.Unlock()
	hc := s.NS.HTTPClient()
	hc.Timeout = time.Second
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-waited:
			return fmt.Errorf("janus exited at start:\n%s", s.Logs())
		default:
		}
		resp, err := hc.Get(s.HTTPBase() + "/info")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("janus not ready after 15 s:\n%s", s.Logs())
}

// Kill stops Janus at once, as a crash would.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, waited := s.cmd, s.waited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-waited
}

// Close kills Janus and deletes its namespace.
func (s *Server) Close() {
	s.Kill()
	s.NS.Close()
}

// Logs returns what Janus has logged.
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return ""
	}
	return s.log.String()
}

// HTTPBase is the HTTP API's root, as seen from inside the namespace.
func (s *Server) HTTPBase() string { return fmt.Sprintf("http://%s:%d/janus", Addr, s.Port) }

// URL is roomcast's meetingUrl for a room.
func (s *Server) URL(room uint64) string { return fmt.Sprintf("janus://%s:%d/%d", Addr, s.Port, room) }

// Room is what CreateRoom makes.
type Room struct {
	ID           uint64
	Description  string
	VideoCodec   string // default "vp8,h264,vp9,av1"
	Publishers   int    // default 10
	Pin          string
	RequirePvtID bool
	// AudioLevelExt: VideoRoom negotiates the RFC 6464 extension by default;
	// set this to turn it off.
	NoAudioLevelExt bool
}

// CreateRoom creates a VideoRoom room.
func (s *Server) CreateRoom(ctx context.Context, r Room) error {
	body := map[string]any{
		"request":          "create",
		"room":             r.ID,
		"admin_key":        s.AdminKey,
		"description":      r.Description,
		"publishers":       max(r.Publishers, 10),
		"videocodec":       "vp8,h264,vp9,av1",
		"audiocodec":       "opus",
		"require_pvtid":    r.RequirePvtID,
		"audiolevel_ext":   !r.NoAudioLevelExt,
		"audiolevel_event": true,
		"fir_freq":         2,
	}
	if r.VideoCodec != "" {
		body["videocodec"] = r.VideoCodec
	}
	if r.Pin != "" {
		body["pin"] = r.Pin
	}
	data, err := s.Request(ctx, body)
	if err != nil {
		return err
	}
	if data["videoroom"] != "created" {
		return fmt.Errorf("janustest: create room %d: %v", r.ID, data)
	}
	return nil
}

// Participant is an entry of listparticipants.
type Participant struct {
	ID        uint64 `json:"id"`
	Display   string `json:"display"`
	Publisher bool   `json:"publisher"`
	Talking   bool   `json:"talking"`
}

// ListParticipants is VideoRoom's listparticipants.
func (s *Server) ListParticipants(ctx context.Context, room uint64, pin string) ([]Participant, error) {
	req := map[string]any{"request": "listparticipants", "room": room}
	if pin != "" {
		req["pin"] = pin
	}
	data, err := s.Request(ctx, req)
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(data["participants"])
	var ps []Participant
	if err := json.Unmarshal(b, &ps); err != nil {
		return nil, fmt.Errorf("janustest: listparticipants: %w", err)
	}
	return ps, nil
}

// Request sends one synchronous VideoRoom request on a throwaway session
// and handle, and returns the plugin's data.
func (s *Server) Request(ctx context.Context, body map[string]any) (map[string]any, error) {
	hc := s.NS.HTTPClient()
	post := func(path string, msg map[string]any) (map[string]any, error) {
		msg["transaction"] = randomHex(8)
		b, _ := json.Marshal(msg)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.HTTPBase()+path, bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("janustest: %w", err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return nil, fmt.Errorf("janustest: %s: %w", path, err)
		}
		if out["janus"] == "error" {
			return nil, fmt.Errorf("janustest: %s: %v", path, out["error"])
		}
		return out, nil
	}
	out, err := post("", map[string]any{"janus": "create"})
	if err != nil {
		return nil, err
	}
	sid := uint64(out["data"].(map[string]any)["id"].(float64))
	defer func() { _, _ = post(fmt.Sprintf("/%d", sid), map[string]any{"janus": "destroy"}) }()
	out, err = post(fmt.Sprintf("/%d", sid), map[string]any{"janus": "attach", "plugin": "janus.plugin.videoroom"})
	if err != nil {
		return nil, err
	}
	hid := uint64(out["data"].(map[string]any)["id"].(float64))
	out, err = post(fmt.Sprintf("/%d/%d", sid, hid), map[string]any{"janus": "message", "body": body})
	if err != nil {
		return nil, err
	}
	pd, _ := out["plugindata"].(map[string]any)
	data, _ := pd["data"].(map[string]any)
	if data == nil {
		return nil, fmt.Errorf("janustest: %v: no plugin data in %v", body["request"], out)
	}
	if e, ok := data["error"]; ok {
		return nil, fmt.Errorf("janustest: %v: %v (code %v)", body["request"], e, data["error_code"])
	}
	return data, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// PID is the running server's process id, 0 when none runs: for the
// bench, which reads its CPU time.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

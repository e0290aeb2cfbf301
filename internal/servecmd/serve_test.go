package servecmd

import (
	"bytes"
	"crypto/tls"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/rtmptest"
)

func TestJobEnv(t *testing.T) {
	in := []string{"PATH=/usr/bin", "ROOMCAST_API_TOKENS=t1,t2", "ROOMCAST_WEBHOOK_SECRET=whsec_x", "LIVEKIT_API_SECRET=s", "ROOMCAST_API_TOKENS_X=kept", "HOME=/h"}
	got := jobEnv(in)
	want := []string{"PATH=/usr/bin", "LIVEKIT_API_SECRET=s", "ROOMCAST_API_TOKENS_X=kept", "HOME=/h"}
	if !slices.Equal(got, want) {
		t.Errorf("jobEnv = %v, want %v", got, want)
	}
}

func TestLoadTLSFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		cert, key string
		want      string // in the error; "" for plain HTTP
	}{
		{"", "", ""},
		{"c.pem", "", "--tls-cert c.pem needs --tls-key"},
		{"", "k.pem", "--tls-key k.pem needs --tls-cert"},
		{dir + "/none.pem", dir + "/none.pem", "--tls-cert: stat"},
	} {
		c, err := loadTLS(tc.cert, tc.key)
		switch {
		case tc.want == "" && (err != nil || c != nil):
			t.Errorf("loadTLS(%q, %q) = %v, %v; want plain HTTP", tc.cert, tc.key, c, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("loadTLS(%q, %q) = %v; want an error with %q", tc.cert, tc.key, err, tc.want)
		}
	}
}

// A renewed certificate is served without a restart; one that does not
// load leaves the previous in place.
func TestCertReload(t *testing.T) {
	a, b := rtmptest.NewTLS(t), rtmptest.NewTLS(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	install := func(cert, key []byte, at time.Time) {
		t.Helper()
		for _, f := range []struct {
			path string
			b    []byte
		}{{certFile, cert}, {keyFile, key}} {
			if err := os.WriteFile(f.path, f.b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(f.path, at, at); err != nil {
				t.Fatal(err)
			}
		}
	}
	read := func(p string) []byte {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	leaf := func(f rtmptest.TLSFiles) []byte {
		c, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		return c.Certificate[0]
	}
	now := time.Now()
	install(read(a.CertFile), read(a.KeyFile), now)
	conf, err := loadTLS(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	serving := func(step string, want []byte) {
		t.Helper()
		time.Sleep(1100 * time.Millisecond) // past the once-a-second look at the files
		c, err := conf.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil || !bytes.Equal(c.Certificate[0], want) {
			t.Errorf("%s: serving another certificate (%v)", step, err)
		}
	}
	if c, _ := conf.GetCertificate(&tls.ClientHelloInfo{}); !bytes.Equal(c.Certificate[0], leaf(a)) {
		t.Fatal("not serving the first certificate")
	}
	install(read(b.CertFile), read(b.KeyFile), now.Add(2*time.Second))
	serving("renewed", leaf(b))
	install([]byte("half written"), read(b.KeyFile), now.Add(4*time.Second))
	serving("a renewal that does not load", leaf(b))
}

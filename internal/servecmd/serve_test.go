package servecmd

import (
	"slices"
	"strings"
	"testing"
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

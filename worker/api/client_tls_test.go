package api

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// HTTPClient trusts the CA file's certificates: a client with it reaches
// a TLS server that certificate signed, one without it does not, and a CA
// file that is missing or holds no certificate is an error naming it.
func TestHTTPClientCAFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"nodes":[]}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("no certificate here\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, caFile string
		wantErr      string // from HTTPClient
		reaches      bool
	}{
		{"the CA", ca, "", true},
		{"system CAs only", "", "", false},
		{"missing file", filepath.Join(dir, "none.pem"), "the CA file", false},
		{"no PEM", junk, "holds no PEM certificate", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hc, err := HTTPClient(tc.caFile)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("HTTPClient(%q) = %v, want an error with %q", tc.caFile, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c, err := NewClient(srv.URL, "tok", hc)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Nodes(context.Background())
			if tc.reaches && err != nil {
				t.Errorf("with the CA: %v", err)
			}
			if !tc.reaches && (err == nil || !strings.Contains(err.Error(), "certificate")) {
				t.Errorf("without the CA: %v, want a certificate error", err)
			}
		})
	}
}

package rtmp

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
)

// TestClientHandshake plays the server: C2 must echo S1, and a server that
// answers another version (an HTTP server, say) is named as such.
func TestClientHandshake(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		version byte
		wantErr string
	}{
		{"version 3", 3, ""},
		{"not RTMP", 'H', "not 3 (is this an RTMP port?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer client.Close()
			s1 := bytes.Repeat([]byte{0x5a}, handshakeSize)
			c2 := make(chan []byte, 1)
			go func() {
				defer server.Close()
				c01 := make([]byte, 1+handshakeSize)
				if _, err := io.ReadFull(server, c01); err != nil || c01[0] != 3 {
					c2 <- nil
					return
				}
				if _, err := server.Write(append([]byte{tt.version}, s1...)); err != nil {
					c2 <- nil
					return
				}
				got := make([]byte, handshakeSize)
				if _, err := io.ReadFull(server, got); err != nil {
					c2 <- nil
					return
				}
				_, _ = server.Write(c01[1:]) // S2 echoes C1
				c2 <- got
			}()
			err := clientHandshake(client, client)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := <-c2; !bytes.Equal(got, s1) {
				t.Errorf("C2 does not echo S1")
			}
		})
	}
}

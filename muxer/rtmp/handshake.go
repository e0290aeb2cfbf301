package rtmp

import (
	"crypto/rand"
	"fmt"
	"io"
)

// handshakeSize is the size of C1, C2, S1 and S2 (RTMP spec 5.2).
const handshakeSize = 1536

// rtmpVersion is the only version in use, sent in C0 and expected in S0.
const rtmpVersion = 3

// clientHandshake is the plain (not digest) RTMP handshake, which every
// server accepts from a publisher: C0+C1, then S0+S1, C2 echoing S1, S2.
// Writes go to w unbuffered, so nothing of ours waits in a buffer while we
// wait for the server.
func clientHandshake(w io.Writer, r io.Reader) error {
	c1 := make([]byte, 1+handshakeSize)
	c1[0] = rtmpVersion
	// C1: time (zero is fine), four zero bytes, then random filler.
	if _, err := rand.Read(c1[9:]); err != nil {
		return err
	}
	if _, err := w.Write(c1); err != nil {
		return err
	}
	s := make([]byte, 1+handshakeSize)
	if _, err := io.ReadFull(r, s); err != nil {
		return fmt.Errorf("read S0+S1: %w", err)
	}
	if s[0] != rtmpVersion {
		return fmt.Errorf("server speaks RTMP version %d, not %d (is this an RTMP port?)", s[0], rtmpVersion)
	}
	// C2 echoes S1.
	if _, err := w.Write(s[1:]); err != nil {
		return err
	}
	if _, err := io.ReadFull(r, s[1:]); err != nil {
		return fmt.Errorf("read S2: %w", err)
	}
	return nil
}

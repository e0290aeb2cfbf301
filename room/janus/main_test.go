package janus

import (
	"testing"

	"github.com/roomcast/roomcast/internal/janustest"
)

// TestMain runs the tests inside a network namespace of their own, beside
// the Janus servers they start: Janus offers no loopback candidates, so the
// tests' WebRTC peers must share its 127.0.0.2 veth.
func TestMain(m *testing.M) { janustest.Main(m) }

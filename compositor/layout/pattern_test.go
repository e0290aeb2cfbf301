package layout

import "testing"

func TestGlob(t *testing.T) {
	tests := []struct {
		pat, s string
		want   bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"student*", "student", true},
		{"student*", "studentTeam", true}, // Twilio's own example
		{"student*", "Student", false},
		{"*-cam", "alice-cam", true},
		{"*-cam", "alice-cam2", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"a**c", "ac", true},
		{"", "", true},
		{"", "x", false},
		{"interviewer-*", "interviewer-3", true},
		{"*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	}
	for _, tt := range tests {
		if got := glob(tt.pat, tt.s); got != tt.want {
			t.Errorf("glob(%q, %q) = %v", tt.pat, tt.s, got)
		}
	}
}

func TestPatterns(t *testing.T) {
	alice := Source{Key: "p:1", PeerID: "PA_1", TrackID: "TR_cam", Name: "alice smith", Role: "host", Metadata: `{"team":"blue"}`, JoinOrder: 1}
	bob := Source{Key: "p:2", PeerID: "PA_2", Name: "bob", Role: "guest", JoinOrder: 4}
	screen := Source{Key: "t:s", PeerID: "PA_2", TrackID: "TR_scr", Name: "bob", Role: "guest", Screen: true, JoinOrder: 4}
	tests := []struct {
		pat              string
		alice, bob, scrn bool
	}{
		{"*", true, true, true},
		{"alice*", true, false, false},
		{"name:alice*", true, false, false},
		{"NAME:bob", false, true, true},
		{"peer:PA_2", false, true, true},
		{"track:TR_*", true, false, true},
		{"role:host", true, false, false},
		{"role:g*", false, true, true},
		{"meta:*blue*", true, false, false},
		{"metadata:*red*", false, false, false},
		{"source:screen", false, false, true},
		{"source:camera", true, true, false},
		{"source:Screen", false, false, true},
		{"join:1", true, false, false},
		{"join:2-4", false, true, true},
		{"join:2-", false, true, true},
		{"join:5-", false, false, false},
		// An unknown key is part of a name, as Twilio track names may hold colons.
		{"cam:1", false, false, false},
	}
	for _, tt := range tests {
		p, err := parsePattern(tt.pat)
		if err != nil {
			t.Fatalf("%q: %v", tt.pat, err)
		}
		for _, c := range []struct {
			s    Source
			want bool
		}{{alice, tt.alice}, {bob, tt.bob}, {screen, tt.scrn}} {
			if got := p.match(&c.s); got != c.want {
				t.Errorf("%q on %s: %v, want %v", tt.pat, c.s.Key, got, c.want)
			}
		}
	}
	colon := Source{Name: "cam:1"}
	if p, _ := parsePattern("cam:1"); !p.match(&colon) {
		t.Error("a name with a colon does not match itself")
	}
	for _, bad := range []string{"", "source:mic", "join:0", "join:x", "join:4-2", "join:-3"} {
		if _, err := parsePattern(bad); err == nil {
			t.Errorf("pattern %q taken", bad)
		}
	}
}

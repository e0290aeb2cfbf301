package layout

import (
	"fmt"
	"strconv"
	"strings"
)

// A pattern selects sources, as Twilio's video_sources do. "*" matches any
// run of characters. A bare pattern matches the peer's name (Twilio matches
// track names); a key picks another field:
//
//	name:alice*   the peer's name
//	peer:PA_*     the peer id
//	track:TR_*    the track id
//	role:host     the peer's role
//	meta:*vip*    the peer's metadata (its raw text)
//	source:screen camera or screen
//	join:1        join order: the first peer to join is 1; join:2-4, join:5-
type pattern struct {
	field    field
	glob     string
	lo, hi   int // join range; hi 0 means no upper bound
	isScreen bool
}

type field int

const (
	fName field = iota
	fPeer
	fTrack
	fRole
	fMeta
	fSource
	fJoin
)

var fieldNames = map[string]field{"name": fName, "peer": fPeer, "track": fTrack, "role": fRole, "meta": fMeta, "metadata": fMeta, "source": fSource, "join": fJoin}

const maxPatternLen = 256

func parsePattern(s string) (pattern, error) {
	if s == "" {
		return pattern{}, fmt.Errorf("an empty pattern matches nothing: use \"*\" for every source")
	}
	if len(s) > maxPatternLen {
		return pattern{}, fmt.Errorf("the pattern is %d characters; at most %d are allowed", len(s), maxPatternLen)
	}
	key, rest, ok := strings.Cut(s, ":")
	if !ok {
		return pattern{field: fName, glob: s}, nil
	}
	f, known := fieldNames[strings.ToLower(key)]
	if !known {
		// A name with a colon in it, as Twilio track names may have.
		return pattern{field: fName, glob: s}, nil
	}
	p := pattern{field: f, glob: rest}
	switch f {
	case fSource:
		switch strings.ToLower(rest) {
		case "screen":
			p.isScreen = true
		case "camera":
		default:
			return pattern{}, fmt.Errorf("%q: source is camera or screen", s)
		}
	case fJoin:
		lo, hi, rng := strings.Cut(rest, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 1 {
			return pattern{}, fmt.Errorf("%q: join takes a position from 1 (join:1), a range (join:2-4) or an open range (join:5-)", s)
		}
		p.lo, p.hi = a, a
		if rng {
			p.hi = 0
			if hi != "" {
				b, err := strconv.Atoi(hi)
				if err != nil || b < a {
					return pattern{}, fmt.Errorf("%q: a join range runs from low to high, e.g. join:2-4", s)
				}
				p.hi = b
			}
		}
	}
	return p, nil
}

func (p *pattern) match(s *Source) bool {
	switch p.field {
	case fName:
		return glob(p.glob, s.Name)
	case fPeer:
		return glob(p.glob, s.PeerID)
	case fTrack:
		return glob(p.glob, s.TrackID)
	case fRole:
		return glob(p.glob, s.Role)
	case fMeta:
		return glob(p.glob, s.Metadata)
	case fSource:
		return p.isScreen == s.Screen
	case fJoin:
		return s.JoinOrder >= p.lo && (p.hi == 0 || s.JoinOrder <= p.hi)
	}
	return false
}

// glob matches s against a pattern where '*' matches any run of bytes. It
// backtracks only to the latest star, so it is linear in practice and never
// allocates.
func glob(pat, s string) bool {
	px, sx := 0, 0
	star, mark := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pat) && pat[px] == '*':
			star, mark = px, sx
			px++
		case px < len(pat) && pat[px] == s[sx]:
			px++
			sx++
		case star >= 0:
			px = star + 1
			mark++
			sx = mark
		default:
			return false
		}
	}
	for px < len(pat) && pat[px] == '*' {
		px++
	}
	return px == len(pat)
}

package file

import (
	"slices"
	"time"
)

// Trim removes the spans of the manifest's timeline in which no peer has
// media, as Twilio's trim does for a composition: the room starts with its
// first peer, and a silence between two peers is closed up. Every time in
// the manifest (joins, leaves, mutes) moves earlier by the gaps before it.
// It returns the spans cut, in the original timeline.
func (m *Manifest) Trim() []Interval {
	var spans []Interval
	for i := range m.Peers {
		p := &m.Peers[i]
		spans = append(spans, Interval{p.Join, p.End()})
	}
	slices.SortFunc(spans, func(a, b Interval) int { return int(a.From - b.From) })
	var cuts []Interval
	var end time.Duration
	for _, s := range spans {
		if s.From > end {
			cuts = append(cuts, Interval{end, s.From})
		}
		end = max(end, s.To)
	}
	if len(cuts) == 0 {
		return nil
	}
	// shift is how much earlier t moves: the cuts that end at or before it.
	shift := func(t time.Duration) time.Duration {
		var d time.Duration
		for _, c := range cuts {
			if c.To <= t {
				d += c.To - c.From
			} else if c.From < t {
				d += t - c.From // inside a cut: to its start
			}
		}
		return t - d
	}
	for i := range m.Peers {
		p := &m.Peers[i]
		leave := p.Leave
		p.Join = shift(p.Join)
		if leave > 0 {
			p.Leave = shift(leave)
		}
		for k := range p.MuteVideo {
			p.MuteVideo[k] = Interval{shift(p.MuteVideo[k].From), shift(p.MuteVideo[k].To)}
		}
		for k := range p.MuteAudio {
			p.MuteAudio[k] = Interval{shift(p.MuteAudio[k].From), shift(p.MuteAudio[k].To)}
		}
	}
	return cuts
}

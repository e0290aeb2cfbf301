package layout

import (
	"cmp"
	"image"
	"image/color"
	"slices"
)

// Source is one video tile the caller wants placed: a peer's camera (or its
// placeholder when it has no video) or one of its own tracks, such as a
// screen share.
type Source struct {
	// Key is stable for as long as the source exists ("p:PEER", "t:TRACK");
	// the engine remembers cells by it.
	Key      string
	PeerID   string
	TrackID  string
	Name     string
	Role     string
	Metadata string
	Screen   bool
	// JoinOrder orders peers by arrival: 1 is the first to join.
	JoinOrder int
	HasVideo  bool
	MicMuted  bool
	// ActiveSpeaker marks the one source the caller has decided is speaking
	// (after its own hysteresis); LastSpoke ranks the others: higher spoke
	// more recently, 0 never.
	ActiveSpeaker bool
	LastSpoke     int
}

// Placement is where one source goes.
type Placement struct {
	// Shown is false for a source with no place on the canvas; the rest of
	// the placement is then zero.
	Shown bool
	// Rect is inside the canvas, with even coordinates.
	Rect image.Rectangle
	// Z orders drawing: higher is drawn over lower (the region's z_pos).
	Z      int
	Fit    Fit
	Radius int // corner radius in pixels
	// Region and Cell say where the engine put the source.
	Region  string
	Cell    int
	Overlay TileOverlay
}

// TileOverlay is what to draw over one tile, resolved to pixels.
type TileOverlay struct {
	NameLabel   BadgePx
	MutedMic    BadgePx // Show only when the peer's microphone is muted
	Highlight   bool    // the active speaker's border
	BorderColor color.RGBA
	BorderWidth int
	// Initials: the source has no video; draw the peer's initials.
	Initials     bool
	InitialsSize int
}

// BadgePx is a badge resolved for one tile.
type BadgePx struct {
	Show     bool
	Position Position
	Size     int // height in pixels
}

// Engine turns sources into placements under one document. It is not safe
// for concurrent use: one per job, called from one goroutine.
type Engine struct {
	doc      *Document
	fallback *Document // the screenshare preset, for documents without a screen-share layout
	states   [4][]regionState

	out    []Placement
	placed []bool
	mark   []bool
	cands  []int
	keyIdx map[string]int
}

type regionState struct {
	cells    map[string]int
	rejected map[string]bool
	occ      []string
}

// Variants of a document, by index into Engine.states.
const (
	varNormal = iota
	varPortrait
	varShare
	varPortraitShare
)

// NewEngine returns an engine for d (the grid preset when d is nil).
func NewEngine(d *Document) *Engine {
	e := &Engine{keyIdx: map[string]int{}}
	e.fallback, _ = Preset("screenshare")
	e.SetDocument(d)
	return e
}

// SetDocument swaps the layout; the next Arrange uses it. Cells are
// assigned afresh.
func (e *Engine) SetDocument(d *Document) {
	if d == nil {
		d, _ = Preset("grid")
	}
	e.doc = d
	for i := range e.states {
		e.states[i] = nil
	}
}

// Document is the engine's current document.
func (e *Engine) Document() *Document { return e.doc }

// Arrange places srcs on a w x h canvas. The result has one placement per
// source, in the order of srcs; it belongs to the engine and is valid until
// the next call.
func (e *Engine) Arrange(srcs []Source, w, h int) []Placement {
	w, h = evenDown(max(w, 0)), evenDown(max(h, 0))
	n := len(srcs)
	e.out = slices.Grow(e.out[:0], n)[:n]
	clear(e.out)
	e.placed = slices.Grow(e.placed[:0], n)[:n]
	clear(e.placed)
	e.mark = slices.Grow(e.mark[:0], n)[:n]
	clear(e.keyIdx)
	for i := range srcs {
		e.keyIdx[srcs[i].Key] = i
	}
	regions, doc, v := e.pick(srcs, w, h)
	if len(e.states[v]) != len(regions) {
		e.states[v] = make([]regionState, len(regions))
	}
	gap := 0
	if d := e.doc; d.Gap.Set() {
		// A multiple of 4, so that the half gaps at shared region edges add
		// up to a whole one in even pixels.
		gap = max(d.Gap.Of(min(w, h)), 0)
		if gap >= 4 {
			gap &^= 3
		} else {
			gap = evenDown(gap)
		}
	}
	for ri := range regions {
		e.fill(&regions[ri], &e.states[v][ri], srcs, w, h, gap, doc)
	}
	return e.out
}

// pick chooses the regions for this canvas and these sources.
func (e *Engine) pick(srcs []Source, w, h int) ([]Region, *Document, int) {
	d := e.doc
	portrait := h > w
	sharing := false
	if d.Screenshare != ScreenshareOff {
		for i := range srcs {
			if srcs[i].Screen {
				sharing = true
				break
			}
		}
	}
	if sharing {
		src := d
		if d.ScreenshareLayout == nil && d.PortraitScreenshareLayout == nil && e.fallback != nil {
			src = e.fallback
		}
		if portrait && src.PortraitScreenshareLayout != nil {
			return src.PortraitScreenshareLayout, d, varPortraitShare
		}
		if src.ScreenshareLayout != nil {
			return src.ScreenshareLayout, d, varShare
		}
	}
	if portrait && d.PortraitVideoLayout != nil {
		return d.PortraitVideoLayout, d, varPortrait
	}
	return d.VideoLayout, d, varNormal
}

func (r *Region) matches(s *Source) bool {
	in := false
	for i := range r.include {
		if r.include[i].match(s) {
			in = true
			break
		}
	}
	if !in {
		return false
	}
	for i := range r.exclude {
		if r.exclude[i].match(s) {
			return false
		}
	}
	return true
}

func byJoin(srcs []Source) func(a, b int) int {
	return func(a, b int) int {
		x, y := &srcs[a], &srcs[b]
		if c := cmp.Compare(x.JoinOrder, y.JoinOrder); c != 0 {
			return c
		}
		return cmp.Compare(x.Key, y.Key)
	}
}

func bySpeaker(srcs []Source) func(a, b int) int {
	join := byJoin(srcs)
	return func(a, b int) int {
		x, y := &srcs[a], &srcs[b]
		if x.ActiveSpeaker != y.ActiveSpeaker {
			if x.ActiveSpeaker {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(y.LastSpoke, x.LastSpoke); c != 0 {
			return c
		}
		return join(a, b)
	}
}

// fill gives one region's cells to the sources not placed yet.
func (e *Engine) fill(r *Region, st *regionState, srcs []Source, w, h, gap int, d *Document) {
	if st.cells == nil {
		st.cells = map[string]int{}
		st.rejected = map[string]bool{}
	}
	cands := e.cands[:0]
	for i := range srcs {
		if !e.placed[i] && r.matches(&srcs[i]) {
			cands = append(cands, i)
		}
	}
	e.cands = cands
	for k := range st.rejected {
		if i, ok := e.keyIdx[k]; !ok || !slices.Contains(cands, i) {
			delete(st.rejected, k)
		}
	}

	// Which sources the region shows.
	capped := r.MaxColumns > 0 && r.MaxRows > 0
	total := len(cands) + len(r.CellsExcluded)
	if capped {
		total = r.MaxColumns * r.MaxRows
	}
	capacity := len(cands)
	if capped {
		capacity = total
		for _, c := range r.CellsExcluded {
			if c < total {
				capacity--
			}
		}
	}
	clear(e.mark)
	shown := 0
	switch {
	case r.Order == OrderSpeaker:
		slices.SortFunc(cands, bySpeaker(srcs))
		for _, i := range cands[:min(capacity, len(cands))] {
			e.mark[i] = true
			shown++
		}
	case r.Reuse == ReuseNone:
		slices.SortFunc(cands, byJoin(srcs))
		for _, i := range cands {
			if _, ok := st.cells[srcs[i].Key]; ok && shown < capacity {
				e.mark[i] = true
				shown++
			}
		}
		for _, i := range cands {
			k := srcs[i].Key
			if e.mark[i] || st.rejected[k] {
				continue
			}
			if shown < capacity {
				e.mark[i] = true
				shown++
			} else {
				st.rejected[k] = true
			}
		}
	default:
		j := byJoin(srcs)
		if r.Reuse == ReuseShowNewest {
			slices.SortFunc(cands, func(a, b int) int { return j(b, a) })
		} else {
			slices.SortFunc(cands, j)
		}
		for _, i := range cands[:min(capacity, len(cands))] {
			e.mark[i] = true
			shown++
		}
	}

	// Who keeps which cell: those still shown keep theirs.
	st.occ = st.occ[:0]
	for k, c := range st.cells {
		i, ok := e.keyIdx[k]
		if !ok || !e.mark[i] || (capped && c >= total) {
			delete(st.cells, k)
			continue
		}
		for len(st.occ) <= c {
			st.occ = append(st.occ, "")
		}
		st.occ[c] = k
	}
	free := 0
	nextFree := func() int {
		for ; ; free++ {
			if r.excluded[free] {
				continue
			}
			if free >= len(st.occ) || st.occ[free] == "" {
				return free
			}
		}
	}
	// Newcomers take the lowest free cells in the order they joined, whoever
	// won the places.
	slices.SortFunc(cands, byJoin(srcs))
	for _, i := range cands {
		k := srcs[i].Key
		if !e.mark[i] {
			continue
		}
		if _, ok := st.cells[k]; ok {
			continue
		}
		c := nextFree()
		for len(st.occ) <= c {
			st.occ = append(st.occ, "")
		}
		st.occ[c] = k
		st.cells[k] = c
	}
	if r.Compact {
		// The source in the last cell moves into the hole, so only one tile
		// moves when someone leaves.
		for {
			last := len(st.occ) - 1
			for last >= 0 && st.occ[last] == "" {
				last--
			}
			free = 0
			hole := nextFree()
			if last < 0 || hole >= last {
				break
			}
			k := st.occ[last]
			st.occ[last], st.occ[hole] = "", k
			st.cells[k] = hole
		}
	}
	if shown == 0 {
		return
	}

	// The grid: room for the shown sources, the excluded cells among them
	// and the highest cell in use.
	needed := shown
	for _, c := range r.CellsExcluded {
		if c <= needed {
			needed++
		}
	}
	for c := len(st.occ) - 1; c >= 0; c-- {
		if st.occ[c] != "" {
			needed = max(needed, c+1)
			break
		}
	}
	if capped {
		needed = min(needed, total)
	}
	rect := regionRect(r, w, h, gap)
	var cols, rows int
	if r.TileAspect > 0 {
		cols, rows = fitGrid(needed, rect.Dx(), rect.Dy(), gap, r.TileAspect, r.MaxColumns, r.MaxRows)
	} else {
		cols, rows = squareGrid(needed, r.MaxColumns, r.MaxRows)
	}
	g := newGridGeom(rect, cols, rows, gap, r.TileAspect, r.CenterLastRow, needed)
	for _, i := range cands {
		if !e.mark[i] {
			continue
		}
		c := st.cells[srcs[i].Key]
		if c >= cols*rows {
			continue
		}
		cr := g.cell(c)
		if cr.Dx() < 2 || cr.Dy() < 2 || !cr.In(image.Rect(0, 0, w, h)) {
			continue
		}
		e.placed[i] = true
		e.out[i] = place(&srcs[i], r, d, cr, c)
	}
}

func place(s *Source, r *Region, d *Document, cr image.Rectangle, cell int) Placement {
	p := Placement{Shown: true, Rect: cr, Z: r.Z, Region: r.Name, Cell: cell}
	switch {
	case r.Fit != "":
		p.Fit = r.Fit
	case s.Screen:
		p.Fit = FitContain
	default:
		p.Fit = d.Fit
	}
	short := min(cr.Dx(), cr.Dy())
	rad := d.Radius
	if r.Radius.Set() {
		rad = r.Radius
	}
	p.Radius = min(max(rad.Of(short), 0), short/2)
	ov := &d.Overlays
	p.Overlay = TileOverlay{
		NameLabel:   BadgePx{Show: ov.NameLabel.Show, Position: ov.NameLabel.Position, Size: ov.NameLabel.Size.Of(cr.Dy())},
		MutedMic:    BadgePx{Show: ov.MutedMic.Show && s.MicMuted, Position: ov.MutedMic.Position, Size: ov.MutedMic.Size.Of(cr.Dy())},
		Highlight:   ov.SpeakerBorder.Show && s.ActiveSpeaker,
		BorderColor: ov.SpeakerBorder.Color,
		BorderWidth: min(ov.SpeakerBorder.Width.Of(short), short/4),
		Initials:    ov.Initials.Show && !s.HasVideo,
	}
	if p.Overlay.Initials {
		p.Overlay.InitialsSize = ov.Initials.Size.Of(cr.Dy())
	}
	return p
}

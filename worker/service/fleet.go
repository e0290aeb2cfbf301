package service

// The service as one node of a fleet: placement, failover and drain.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/worker/api"
	"github.com/roomcast/roomcast/worker/fleet"
	"github.com/roomcast/roomcast/worker/jobstate"
)

// scanEvery is how often a node looks for orphaned jobs. With the lease TTL
// it bounds the failover time: TTL + scanEvery + a rank's wait + the
// process's start.
const scanEvery = time.Second

// rankWait is how long the n-th best node for an orphan waits before it
// tries to take it: the best one tries at once, the others only if it
// could not.
const rankWait = 1500 * time.Millisecond

// joinFleet answers the other nodes' calls and starts the heartbeat and
// the orphan scan.
func (s *Service) joinFleet() error {
	if err := s.handleCalls(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.fleetStop, s.fleetDone = cancel, make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(s.fleetDone)
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.opts.Fleet.Run(ctx, s.selfNode)
		}()
		t := time.NewTicker(scanEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				<-done
				return
			case <-t.C:
				s.scan(ctx)
			}
		}
	}()
	return nil
}

// selfNode is this node's registry entry.
func (s *Service) selfNode() fleet.Node {
	name := ""
	if s.opts.Fleet != nil {
		name = s.opts.Fleet.Name()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return fleet.Node{
		Name: name, Capacity: float64(s.opts.Capacity), Used: float64(s.used),
		Jobs: len(s.runs), Draining: s.draining || s.closing, StartedAt: s.startedAt,
		Heartbeat: s.opts.Now().UTC(),
	}
}

// candidates are the nodes a job of this cost fits on, best first: the
// most free CPU, so that jobs spread and each keeps real time; this node
// first among equals (no hop), then by name. This node's entry is its
// own, current one, not the registry's last heartbeat.
func (s *Service) candidates(nodes []fleet.Node, cost Cost, self bool) []fleet.Node {
	me := s.selfNode()
	var out []fleet.Node
	for _, n := range nodes {
		if n.Name == me.Name {
			continue
		}
		if !n.Draining && n.Free()+1e-9 >= float64(cost) {
			out = append(out, n)
		}
	}
	if self && !me.Draining && me.Free()+1e-9 >= float64(cost) {
		out = append(out, me)
	}
	slices.SortFunc(out, func(a, b fleet.Node) int {
		if c := cmp.Compare(b.Free(), a.Free()); c != 0 {
			return c
		}
		if a.Name == me.Name {
			return -1
		}
		if b.Name == me.Name {
			return 1
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return out
}

// place starts a job on the best node that takes it.
func (s *Service) place(ctx context.Context, cfg config.Job) (jobstate.State, error) {
	nodes, err := s.opts.Fleet.Nodes(ctx)
	if err != nil {
		s.log.Warn("reading the fleet's nodes; placing here", "err", err)
	}
	cost := CostOf(cfg)
	for _, n := range s.candidates(nodes, cost, true) {
		var st jobstate.State
		var err error
		if n.Name == s.opts.Fleet.Name() {
			st, err = s.startHere(ctx, cfg)
		} else {
			st, err = s.callState(ctx, n.Name, opStart, call{Config: &cfg})
		}
		var p *api.Problem
		switch {
		case err == nil:
			return st, nil
		case errors.Is(err, fleet.ErrNodeDown):
		case errors.As(err, &p) && (p.Code == api.CodeNoCapacity || p.Code == api.CodeShuttingDown):
		default:
			return st, err
		}
		s.log.Info("node did not take the job; trying the next", "job", cfg.ID, "node", n.Name, "err", err)
	}
	s.counters.refused.Add(1)
	return jobstate.State{}, &api.Problem{Code: api.CodeNoCapacity, RetryAfter: 30 * time.Second,
		Message: fmt.Sprintf("no capacity: no node of the fleet has %.2f cores free for the job", cost)}
}

// scan looks for jobs whose node stopped renewing their lease, and takes
// over those this node is the best place for; a worse-placed node waits a
// little longer, in case the better one cannot.
func (s *Service) scan(ctx context.Context) {
	if !s.opts.Fleet.Steady() {
		// After an outage every lease may have lapsed, the live ones
		// too: their nodes take them again at their next heartbeat.
		return
	}
	ids, err := s.opts.Store.ClaimedJobs(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("reading the claimed rooms", "err", err)
		}
		return
	}
	seen := map[string]bool{}
	var nodes []fleet.Node
	for _, id := range ids {
		seen[id] = true
		if s.local(id) != nil {
			continue
		}
		if _, err := s.opts.Fleet.Holder(ctx, id); !errors.Is(err, fleet.ErrNoLease) {
			delete(s.orphans, id)
			continue
		}
		rec, _, err := s.opts.Store.Job(ctx, id)
		if err != nil {
			continue // being created, or the store is away
		}
		var st jobstate.State
		var cfg config.Job
		if json.Unmarshal(rec.State, &st) != nil || json.Unmarshal(rec.Config, &cfg) != nil {
			continue
		}
		if terminal(st.State) {
			// Its node ended it and died before freeing the room.
			if err := s.opts.Store.ReleaseRoom(ctx, cfg.MeetingURL, id); err != nil {
				s.log.Warn("freeing the room of an ended job", "job", id, "err", err)
			}
			continue
		}
		first, ok := s.orphans[id]
		if !ok {
			first = s.opts.Now()
			s.orphans[id] = first
			s.log.Warn("job without a lease: its node is gone", "job", id, "node", rec.Node)
		}
		if nodes == nil {
			if nodes, err = s.opts.Fleet.Nodes(ctx); err != nil {
				continue
			}
		}
		rank := slices.IndexFunc(s.candidates(nodes, CostOf(cfg), true), func(n fleet.Node) bool { return n.Name == s.opts.Fleet.Name() })
		if rank < 0 || s.opts.Now().Sub(first) < time.Duration(rank)*rankWait {
			continue
		}
		// Its node's last renewal came about a lease's life before the
		// scan first missed the lease.
		if _, err := s.adopt(ctx, id, jobstate.PartFailover, first.Add(-s.opts.Fleet.LeaseTTL())); err != nil {
			s.log.Info("not taking the job over", "job", id, "err", err)
		}
	}
	for id := range s.orphans {
		if !seen[id] {
			delete(s.orphans, id)
		}
	}
}

// adopt continues a job whose lease nobody holds, into a new part here.
// lapsed is about when the last part ended, if its node could not say.
func (s *Service) adopt(ctx context.Context, id, cause string, lapsed time.Time) (jobstate.State, error) {
	rec, _, err := s.opts.Store.Job(ctx, id)
	if err != nil {
		return jobstate.State{}, err
	}
	var cfg config.Job
	if err := json.Unmarshal(rec.Config, &cfg); err != nil {
		return jobstate.State{}, fmt.Errorf("service: job %s: %w", id, err)
	}
	runURL, cost, release, err := s.reserve(cfg)
	if err != nil {
		return jobstate.State{}, err
	}
	f := s.opts.Fleet
	j := &job{id: id, cfg: cfg, cost: cost, events: make(chan jobEvent, 64), done: make(chan struct{})}
	if err := f.Acquire(ctx, id, func() { s.leaseLost(j) }); err != nil {
		release()
		return jobstate.State{}, err
	}
	release = s.leased(release, id)
	// Read again under the lease: the job may have ended, or moved, since.
	rec, rev, err := s.opts.Store.Job(ctx, id)
	var st jobstate.State
	if err == nil {
		err = json.Unmarshal(rec.State, &st)
	}
	if err != nil {
		release()
		return jobstate.State{}, err
	}
	if terminal(st.State) {
		release()
		return st, &api.Problem{Code: api.CodeNotRunning, Message: "job " + id + " has ended"}
	}
	now := s.opts.Now().UTC()
	parts := slices.Clone(st.Parts)
	if len(parts) == 0 {
		began := rec.CreatedAt
		if st.StartedAt != nil {
			began = *st.StartedAt
		}
		parts = []jobstate.Part{{Part: 1, Node: rec.Node, Cause: jobstate.PartStart, StartedAt: began, Files: partFiles(cfg, 1)}}
	}
	last := &parts[len(parts)-1]
	if last.EndedAt == nil {
		// Its node died: it ended when its lease lapsed, and not before
		// the record's last write.
		end := lapsed.UTC()
		if end.Before(rec.UpdatedAt) {
			end = rec.UpdatedAt.UTC()
		}
		if end.After(now) {
			end = now
		}
		last.EndedAt = &end
	}
	n := last.Part + 1
	parts = append(parts, jobstate.Part{Part: n, Node: f.Name(), Cause: cause, StartedAt: now,
		GapSeconds: max(now.Sub(*last.EndedAt), 0).Seconds(), Files: partFiles(cfg, n)})
	j.part, j.parts = n, parts
	j.startedAt = rec.CreatedAt
	if st.StartedAt != nil {
		j.startedAt = *st.StartedAt
	}
	st.State = jobstate.Starting
	st = j.decorate(st)
	rec.Node = f.Name()
	rec.State, _ = json.Marshal(st)
	if _, err := s.opts.Store.UpdateJob(ctx, rec, rev); err != nil {
		release()
		return jobstate.State{}, fmt.Errorf("service: taking over job %s: %w", id, err)
	}
	s.log.Warn("taking the job over", "job", id, "part", n, "cause", cause, "from", last.Node,
		"gapSeconds", parts[len(parts)-1].GapSeconds)
	// The event says what happened, before the new part's own.
	s.publish(ctx, id, jobstate.EventFailover, st)
	return s.launch(ctx, j, runURL, st, release)
}

// leaseLost runs when a renewal found j's lease lapsed. If the record still
// names this node (nobody took the job over while NATS was away), the node
// takes the lease again and keeps the job; if it names another, the job is
// that node's now and stops here. Until the record can be read (NATS is
// coming back, its leaders are being elected) the job keeps running: it is
// never given up on a guess.
func (s *Service) leaseLost(j *job) {
	for try := 0; ; try++ {
		if s.local(j.id) != j || j.lost.Load() {
			return // ended meanwhile
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		rec, _, err := s.opts.Store.Job(ctx, j.id)
		if err == nil {
			var st jobstate.State
			switch {
			case rec.Node != s.opts.Fleet.Name():
				cancel()
				s.lose(j, "its lease lapsed and "+rec.Node+" holds the job")
				return
			case json.Unmarshal(rec.State, &st) == nil && terminal(st.State):
				cancel()
				s.lose(j, "its record says it has ended")
				return
			}
			err = s.opts.Fleet.Acquire(ctx, j.id, func() { s.leaseLost(j) })
			if err == nil {
				cancel()
				s.log.Warn("lease lapsed and taken again: nobody took the job over", "job", j.id, "tries", try+1)
				return
			}
			if errors.Is(err, fleet.ErrHeld) {
				cancel()
				s.lose(j, "its lease lapsed and another node took it")
				return
			}
		}
		cancel()
		if try%10 == 0 {
			s.log.Warn("lease lapsed; the job keeps running until its record can be read", "job", j.id, "err", err)
		}
		time.Sleep(time.Second)
	}
}

// lose stops j here without a word to its record: another node has it.
func (s *Service) lose(j *job, why string) {
	if j.lost.Swap(true) {
		return
	}
	s.log.Warn("job lost to another node: stopping it here", "job", j.id, "part", j.part, "why", why)
	go func() {
		if j.run == nil {
			return
		}
		if err := j.run.Stop(context.Background()); err != nil {
			s.log.Debug("stopping a lost job", "job", j.id, "err", err)
		}
	}()
}

// handOver ends j's part in its record and frees its lease, then asks the
// best other node to continue it. If that call fails, the scan of every
// node finds the job without a lease soon enough.
func (s *Service) handOver(j *job) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec, rev, err := s.opts.Store.Job(ctx, j.id)
	if err == nil && rec.Node == s.opts.Fleet.Name() {
		var st jobstate.State
		if json.Unmarshal(rec.State, &st) == nil {
			st.Parts = j.decorate(st).Parts
			rec.State, _ = json.Marshal(st)
			_, err = s.opts.Store.UpdateJob(ctx, rec, rev)
		}
	}
	if err != nil {
		s.log.Warn("ending the part in the job's record", "job", j.id, "err", err)
	}
	if err := s.opts.Fleet.Release(ctx, j.id); err != nil {
		s.log.Warn("releasing a handed-over job's lease", "job", j.id, "err", err)
	}
	nodes, err := s.opts.Fleet.Nodes(ctx)
	if err != nil {
		return
	}
	for _, n := range s.candidates(nodes, j.cost, false) {
		if _, err := s.callState(ctx, n.Name, opAdopt, call{ID: j.id}); err == nil {
			s.log.Info("job handed over", "job", j.id, "to", n.Name)
			return
		} else {
			s.log.Info("node did not take the handed-over job", "job", j.id, "node", n.Name, "err", err)
		}
	}
}

// Nodes implements api.FleetService: the fleet's nodes, or this node alone.
func (s *Service) Nodes(ctx context.Context) ([]api.Node, error) {
	var nodes []fleet.Node
	if s.opts.Fleet == nil {
		nodes = []fleet.Node{s.selfNode()}
	} else {
		var err error
		if nodes, err = s.opts.Fleet.Nodes(ctx); err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(nodes, func(n fleet.Node) bool { return n.Name == s.opts.Fleet.Name() }) {
			nodes = append(nodes, s.selfNode())
		}
	}
	out := make([]api.Node, 0, len(nodes))
	for _, n := range nodes {
		if s.opts.Fleet != nil && n.Name == s.opts.Fleet.Name() {
			n = s.selfNode()
		}
		out = append(out, api.Node{Name: n.Name, Capacity: n.Capacity, Used: n.Used, Free: n.Free(), Jobs: n.Jobs,
			Draining: n.Draining, StartedAt: n.StartedAt.UTC(), Heartbeat: n.Heartbeat.UTC()})
	}
	return out, nil
}

// Drain implements api.FleetService: the node takes no new jobs; its jobs
// run to their end, or with migrate continue on other nodes.
func (s *Service) Drain(ctx context.Context, node string, migrate bool) (api.Node, error) {
	self := ""
	if s.opts.Fleet != nil {
		self = s.opts.Fleet.Name()
	}
	if node != self && node != "" {
		if s.opts.Fleet == nil {
			return api.Node{}, &api.Problem{Code: api.CodeNotFound, Message: "no node " + node + ": this service runs alone"}
		}
		b, _ := json.Marshal(call{Migrate: migrate})
		out, err := s.opts.Fleet.Call(ctx, node, opDrain, b)
		if errors.Is(err, fleet.ErrNodeDown) {
			return api.Node{}, &api.Problem{Code: api.CodeNotFound, Message: "no node " + node + " answers in the fleet"}
		}
		if err != nil {
			return api.Node{}, err
		}
		var r reply
		if err := json.Unmarshal(out, &r); err != nil {
			return api.Node{}, fmt.Errorf("service: drain on %s: %w", node, err)
		}
		if r.Problem != nil {
			return api.Node{}, r.problem()
		}
		if r.Node == nil {
			return api.Node{}, fmt.Errorf("service: drain on %s: no node in the answer", node)
		}
		return *r.Node, nil
	}
	return s.drainHere(migrate), nil
}

func (s *Service) drainHere(migrate bool) api.Node {
	s.mu.Lock()
	s.draining = true
	var jobs []*job
	for _, j := range s.runs {
		jobs = append(jobs, j)
	}
	s.mu.Unlock()
	s.poke()
	s.log.Info("draining", "migrate", migrate, "jobs", len(jobs))
	if migrate && s.opts.Fleet != nil {
		for _, j := range jobs {
			if j.run == nil || j.handover.Swap(true) {
				continue
			}
			go func() {
				if err := j.run.Stop(context.Background()); err != nil {
					s.log.Warn("stopping a job to migrate it", "job", j.id, "err", err)
				}
			}()
		}
	}
	n := s.selfNode()
	return api.Node{Name: n.Name, Capacity: n.Capacity, Used: n.Used, Free: n.Free(), Jobs: n.Jobs, Draining: true,
		StartedAt: n.StartedAt, Heartbeat: n.Heartbeat}
}

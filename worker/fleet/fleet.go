package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of Options.
const (
	// DefaultLeaseTTL is how long a lease and a registry entry outlive
	// their last renewal. It bounds how soon a dead node's jobs can move
	// (failover is about this plus a scan), and it must ride out a NATS
	// leader election (about 2 s on loopback) without the leases of a
	// live node lapsing.
	DefaultLeaseTTL = 4 * time.Second
	// DefaultHeartbeat is how often leases and the registry entry are
	// renewed: a quarter of the TTL, so three renewals may fail in a row.
	DefaultHeartbeat = time.Second
)

const (
	nodesBucket   = "roomcast_nodes"
	leasesBucket  = "roomcast_leases"
	subjectPrefix = "roomcast.node."
)

// Errors, matched with errors.Is.
var (
	// ErrHeld: another node holds the lease.
	ErrHeld = errors.New("fleet: the lease is held by another node")
	// ErrNoLease: nobody holds the job's lease.
	ErrNoLease = errors.New("fleet: no lease")
	// ErrNodeDown: the node called did not answer (not in the registry,
	// or no responder on its subject).
	ErrNodeDown = errors.New("fleet: the node does not answer")
)

var validName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// CheckName says whether name can name a node: it becomes a KV key and a
// subject token.
func CheckName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("node name %q: want 1 to 64 of A-Z a-z 0-9 _ -", name)
	}
	return nil
}

// Options configure a Fleet.
type Options struct {
	// Node is this node's name, unique in the fleet.
	Node string
	// Replicas of the registry and lease buckets; 0 means 1.
	Replicas int
	// LeaseTTL and Heartbeat: 0 means DefaultLeaseTTL and DefaultHeartbeat.
	LeaseTTL, Heartbeat time.Duration
	Logger              *slog.Logger
}

// Node is one node's registry entry.
type Node struct {
	Name string `json:"name"`
	// Capacity and Used are CPU cores, from the service's cost model.
	Capacity float64 `json:"capacity"`
	Used     float64 `json:"used"`
	Jobs     int     `json:"jobs"`
	Draining bool    `json:"draining"`
	// StartedAt is when the node's service started.
	StartedAt time.Time `json:"startedAt"`
	// Heartbeat is when the entry was last put.
	Heartbeat time.Time `json:"heartbeat"`
}

// Free is the capacity the node has left.
func (n Node) Free() float64 { return n.Capacity - n.Used }

// Handler answers one call. Whatever it returns is the reply; errors are
// the caller's to encode in it.
type Handler func(ctx context.Context, data []byte) []byte

// Fleet is this node's view of the fleet. Its methods are safe from any
// goroutine.
type Fleet struct {
	opts   Options
	log    *slog.Logger
	nc     *nats.Conn
	nodes  jetstream.KeyValue
	leases jetstream.KeyValue

	mu   sync.Mutex
	held map[string]*lease
	subs []*nats.Subscription
	poke chan struct{}
	// steadySince is when this node's heartbeats last began to succeed
	// in a row; zero while they fail. leasesSince is the same for its
	// writes to the lease bucket, whose stream has a leader of its own:
	// the registry may be back while leases cannot yet be renewed.
	steadySince, leasesSince time.Time
}

type lease struct {
	rev    uint64
	onLost func()
}

// Open creates or opens the fleet's buckets on nc's cluster.
func Open(ctx context.Context, nc *nats.Conn, opts Options) (*Fleet, error) {
	if err := CheckName(opts.Node); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	if opts.LeaseTTL == 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	if opts.Heartbeat == 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.Heartbeat >= opts.LeaseTTL {
		return nil, fmt.Errorf("fleet: heartbeat %v must be shorter than the lease TTL %v", opts.Heartbeat, opts.LeaseTTL)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	f := &Fleet{opts: opts, log: opts.Logger.With("component", "fleet", "node", opts.Node), nc: nc, held: map[string]*lease{},
		poke: make(chan struct{}, 1)}
	kv := func(name string) (jetstream.KeyValue, error) {
		b, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: name, TTL: opts.LeaseTTL, Storage: jetstream.FileStorage, Replicas: opts.Replicas,
		})
		if err != nil {
			return nil, fmt.Errorf("fleet: bucket %s: %w", name, err)
		}
		return b, nil
	}
	if f.nodes, err = kv(nodesBucket); err != nil {
		return nil, err
	}
	if f.leases, err = kv(leasesBucket); err != nil {
		return nil, err
	}
	return f, nil
}

// Name is this node's name.
func (f *Fleet) Name() string { return f.opts.Node }

// LeaseTTL is how long a lease outlives its last renewal.
func (f *Fleet) LeaseTTL() time.Duration { return f.opts.LeaseTTL }

// Run puts this node's registry entry and renews its leases every
// heartbeat, until ctx ends; then it removes the entry, so that the fleet
// stops placing jobs here at once rather than after the TTL.
func (f *Fleet) Run(ctx context.Context, self func() Node) {
	t := time.NewTicker(f.opts.Heartbeat)
	defer t.Stop()
	for {
		f.beat(ctx, self())
		f.renew(ctx)
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = f.nodes.Delete(dctx, f.opts.Node)
			_ = f.leases.Delete(dctx, f.probeKey())
			cancel()
			return
		case <-t.C:
		case <-f.poke:
		}
	}
}

// Poke puts the registry entry now rather than at the next heartbeat: the
// node's load changed, and the others should place by the new one.
func (f *Fleet) Poke() {
	select {
	case f.poke <- struct{}{}:
	default:
	}
}

// probeKey is this node's key in the lease bucket, written at every
// heartbeat to learn whether the bucket takes writes. Job ids hold no '.',
// so it is never a job's.
func (f *Fleet) probeKey() string { return "node." + f.opts.Node }

func (f *Fleet) beat(ctx context.Context, n Node) {
	n.Name, n.Heartbeat = f.opts.Node, time.Now().UTC()
	b, _ := json.Marshal(n)
	_, err := f.nodes.Put(ctx, f.opts.Node, b)
	_, lerr := f.leases.Put(ctx, f.probeKey(), []byte(n.Heartbeat.Format(time.RFC3339Nano)))
	f.mu.Lock()
	defer f.mu.Unlock()
	if lerr != nil {
		f.leasesSince = time.Time{}
		if ctx.Err() == nil && err == nil {
			f.log.Warn("the lease bucket takes no writes", "err", lerr)
		}
	} else if f.leasesSince.IsZero() {
		f.leasesSince = time.Now()
	}
	if err != nil {
		f.steadySince = time.Time{}
		if ctx.Err() == nil {
			f.log.Warn("heartbeat failed", "err", err)
		}
		return
	}
	if f.steadySince.IsZero() {
		f.steadySince = time.Now()
	}
}

// Steady says whether this node's heartbeats, and its writes to the lease
// bucket, have gone through for at least a lease's life. A node should
// take over another's job only then: after a NATS outage or leader
// election longer than the TTL every lease has lapsed, the live ones too,
// and their nodes need a renewal that goes through to take them again
// before anyone may treat them as orphans. The registry and the leases
// are two streams, each with its own leader: either may come back first.
func (f *Fleet) Steady() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	ok := func(since time.Time) bool { return !since.IsZero() && time.Since(since) >= f.opts.LeaseTTL }
	return ok(f.steadySince) && ok(f.leasesSince)
}

// Nodes lists the nodes alive now (their entries have not expired), by
// name.
func (f *Fleet) Nodes(ctx context.Context) ([]Node, error) {
	w, err := f.nodes.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("fleet: nodes: %w", err)
	}
	defer w.Stop()
	var out []Node
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e := <-w.Updates():
			if e == nil {
				slices.SortFunc(out, func(a, b Node) int { return strings.Compare(a.Name, b.Name) })
				return out, nil
			}
			var n Node
			if json.Unmarshal(e.Value(), &n) == nil {
				out = append(out, n)
			}
		}
	}
}

// Acquire takes the job's lease for this node, and keeps it until Release.
// onLost runs (on a goroutine of its own) if a renewal finds the lease
// lapsed (taken by another node, or expired while this node was cut off):
// the job must stop here unless it can be acquired again. Another node's
// lease answers ErrHeld.
func (f *Fleet) Acquire(ctx context.Context, jobID string, onLost func()) error {
	rev, err := f.leases.Create(ctx, jobID, []byte(f.opts.Node))
	if errors.Is(err, jetstream.ErrKeyExists) {
		if holder, herr := f.Holder(ctx, jobID); herr == nil && holder == f.opts.Node {
			return fmt.Errorf("fleet: lease of %s: this node holds it already: %w", jobID, ErrHeld)
		}
		return fmt.Errorf("fleet: lease of %s: %w", jobID, ErrHeld)
	}
	if err != nil {
		return fmt.Errorf("fleet: lease of %s: %w", jobID, err)
	}
	f.mu.Lock()
	f.held[jobID] = &lease{rev: rev, onLost: onLost}
	f.mu.Unlock()
	return nil
}

// Release gives the job's lease up, if this node holds it.
func (f *Fleet) Release(ctx context.Context, jobID string) error {
	f.mu.Lock()
	l, ok := f.held[jobID]
	delete(f.held, jobID)
	f.mu.Unlock()
	if !ok {
		return nil
	}
	err := f.leases.Delete(ctx, jobID, jetstream.LastRevision(l.rev))
	if err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("fleet: releasing the lease of %s: %w", jobID, err)
	}
	return nil
}

// Holds says whether this node holds the job's lease, as far as it knows.
func (f *Fleet) Holds(jobID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.held[jobID]
	return ok
}

// Holder is the node holding the job's lease; ErrNoLease if none does.
func (f *Fleet) Holder(ctx context.Context, jobID string) (string, error) {
	e, err := f.leases.Get(ctx, jobID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", ErrNoLease
	}
	if err != nil {
		return "", fmt.Errorf("fleet: lease of %s: %w", jobID, err)
	}
	return string(e.Value()), nil
}

// renew moves every held lease to a new revision. A renewal that fails on
// a stale revision means the lease lapsed: the job is lost here, unless
// the service finds its record still names this node and takes the lease
// again (Acquire). Any other failure
// (NATS away, a leader election) leaves the lease as it is, to try again at
// the next heartbeat: a node cut off from NATS keeps its jobs running.
func (f *Fleet) renew(ctx context.Context) {
	f.mu.Lock()
	ids := make([]string, 0, len(f.held))
	for id := range f.held {
		ids = append(ids, id)
	}
	f.mu.Unlock()
	for _, id := range ids {
		f.mu.Lock()
		l, ok := f.held[id]
		f.mu.Unlock()
		if !ok {
			continue
		}
		rev, err := f.leases.Update(ctx, id, []byte(f.opts.Node), l.rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			// Lapsed, and maybe taken by another node. Whether this
			// node may take it again depends on the job's record,
			// which only the service reads.
			f.lost(id, l)
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				f.log.Warn("lease renewal failed; keeping the job", "job", id, "err", err)
			}
			continue
		}
		f.mu.Lock()
		if cur, ok := f.held[id]; ok && cur == l {
			l.rev = rev
		}
		f.mu.Unlock()
	}
}

func (f *Fleet) lost(id string, l *lease) {
	f.mu.Lock()
	if f.held[id] == l {
		delete(f.held, id)
	}
	f.mu.Unlock()
	f.log.Warn("lease lapsed", "job", id)
	if l.onLost != nil {
		go l.onLost()
	}
}

// Handle answers calls of op to this node. Each call runs on a goroutine
// of its own.
func (f *Fleet) Handle(op string, h Handler) error {
	sub, err := f.nc.Subscribe(subjectPrefix+f.opts.Node+"."+op, func(m *nats.Msg) {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			if err := m.Respond(h(ctx, m.Data)); err != nil {
				f.log.Warn("answering a call", "op", op, "err", err)
			}
		}()
	})
	if err != nil {
		return fmt.Errorf("fleet: handling %s: %w", op, err)
	}
	// A subscription is sent without waiting; the round trip makes sure
	// the server has it before anyone is told this node answers.
	if err := f.nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return fmt.Errorf("fleet: handling %s: %w", op, err)
	}
	f.mu.Lock()
	f.subs = append(f.subs, sub)
	f.mu.Unlock()
	return nil
}

// Call sends op to node and returns its reply, within ctx.
func (f *Fleet) Call(ctx context.Context, node, op string, data []byte) ([]byte, error) {
	if err := CheckName(node); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	m, err := f.nc.RequestWithContext(ctx, subjectPrefix+node+"."+op, data)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, fmt.Errorf("fleet: %s on %s: %w", op, node, ErrNodeDown)
	}
	if err != nil {
		return nil, fmt.Errorf("fleet: %s on %s: %w", op, node, err)
	}
	return m.Data, nil
}

// Close stops answering calls. Leases are left to lapse (or to Release):
// a node that closes while its jobs still run must not free them early.
func (f *Fleet) Close() {
	f.mu.Lock()
	subs := f.subs
	f.subs = nil
	f.mu.Unlock()
	for _, s := range subs {
		_ = s.Unsubscribe()
	}
}

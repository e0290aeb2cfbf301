package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults for Config's zero values.
const (
	// DefaultMaxMemory is the embedded server's JetStream memory limit. The
	// store keeps everything on file, so memory is only JetStream's working
	// set; nats-server's own default would claim 75% of the machine's RAM.
	DefaultMaxMemory = 64 << 20
	// DefaultMaxStore is the embedded server's JetStream disk limit (jobs,
	// events and the outbox), instead of nats-server's 75% of the disk.
	DefaultMaxStore = 1 << 30
	// IdempotencyTTL is how long an idempotency key keeps its job id.
	IdempotencyTTL = 24 * time.Hour
)

// DefaultBackoff is the webhook retry schedule of the job contract: a failed
// delivery is tried again after 1 s, 3 s and 10 s, four attempts in all.
var DefaultBackoff = []time.Duration{time.Second, 3 * time.Second, 10 * time.Second}

// Names of the buckets, streams and consumer. Every node of a fleet opens the
// same ones, so they are fixed rather than configurable.
const (
	jobsBucket     = "roomcast_jobs"
	roomsBucket    = "roomcast_rooms"
	idemBucket     = "roomcast_idempotency"
	failedBucket   = "roomcast_failed_deliveries"
	eventsStream   = "ROOMCAST_EVENTS"
	eventsSubject  = "roomcast.events."
	outboxStream   = "ROOMCAST_OUTBOX"
	outboxSubject  = "roomcast.outbox."
	outboxConsumer = "roomcast_webhooks"
	// ackWait is how long an attempt may go without reporting progress
	// before the server offers its delivery again (a crashed node's).
	ackWait = 30 * time.Second
)

// AutoReplicas as Config.Replicas sizes the replicas to the cluster.
const AutoReplicas = -1

// Errors the store's methods return, matched with errors.Is.
var (
	ErrNotFound  = errors.New("store: not found")
	ErrExists    = errors.New("store: already exists")
	ErrConflict  = errors.New("store: revision conflict")
	ErrInvalidID = errors.New("store: invalid id (want [A-Za-z0-9_-]{1,64})")
)

// validID is the contract's job id pattern. Ids become KV keys and subject
// tokens, so nothing else ('.', '*', '>', spaces) may get through.
var validID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func checkID(id string) error {
	if !validID.MatchString(id) {
		return fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	return nil
}

// Config says where the store keeps its state.
type Config struct {
	// URLs of an existing NATS cluster (nats://host:port). Empty: embed a
	// NATS server with JetStream in this process.
	URLs []string
	// Dir is the embedded server's storage directory; required when
	// embedding, ignored otherwise.
	Dir string
	// MaxMemory and MaxStore are the embedded server's JetStream limits in
	// bytes; 0 means DefaultMaxMemory (64 MiB) and DefaultMaxStore (1 GiB).
	MaxMemory, MaxStore int64
	// Listen is an optional host:port on which the embedded server also
	// accepts clients (port 0 picks a free one); empty: no socket at all.
	Listen string
	// Replicas of every bucket and stream; 0 means 1. A fleet on a
	// three-node cluster uses 3. The embedded server allows only 1.
	// AutoReplicas (-1) takes as many as the cluster has servers, up to 3.
	Replicas int
	// Backoff is the webhook retry schedule: attempt n+1 comes Backoff[n]
	// after attempt n failed, so there are len(Backoff)+1 attempts. Nil
	// means DefaultBackoff. Every node of a fleet must use the same one.
	Backoff []time.Duration
	// Logger receives the store's and the embedded server's logs; nil
	// means slog.Default().
	Logger *slog.Logger
}

// Store is the service's durable state: job records, room claims,
// idempotency keys, event logs and the webhook outbox.
type Store struct {
	log *slog.Logger
	srv *server.Server // nil with an external cluster
	nc  *nats.Conn
	js  jetstream.JetStream

	jobs, rooms, idem, failed jetstream.KeyValue
	events, outbox            jetstream.Stream
	webhooks                  jetstream.Consumer
	backoff                   []time.Duration

	// acked is closed and replaced whenever this process acks an outbox
	// message, to wake deliveries waiting for their turn (see outbox.go).
	mu    sync.Mutex
	acked chan struct{}

	closed chan struct{} // closed by the connection's ClosedHandler

	replicas int
}

// Replicas is how many copies the cluster keeps of the store's buckets and
// streams; the fleet's own buckets take as many.
func (s *Store) Replicas() int { return s.replicas }

// Open connects to (or embeds) NATS and creates or opens the store's buckets,
// streams and consumer. Opening is idempotent: every node of a fleet calls it
// with the same settings.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	s := &Store{log: cfg.Logger, acked: make(chan struct{}), closed: make(chan struct{})}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "store")
	replicas := cfg.Replicas
	if replicas == 0 {
		replicas = 1
	}
	s.backoff = cfg.Backoff
	if s.backoff == nil {
		s.backoff = DefaultBackoff
	}
	for _, d := range s.backoff {
		if d <= 0 {
			return nil, fmt.Errorf("store: backoff %v: every delay must be positive", s.backoff)
		}
	}
	if len(s.backoff) == 0 {
		return nil, errors.New("store: backoff: need at least one delay")
	}

	var err error
	if len(cfg.URLs) == 0 {
		if replicas == AutoReplicas {
			replicas = 1
		}
		if replicas != 1 {
			return nil, fmt.Errorf("store: %d replicas need a NATS cluster (URLs); the embedded server has one", replicas)
		}
		s.srv, err = startEmbedded(cfg, s.log)
		if err != nil {
			return nil, err
		}
		s.nc, err = nats.Connect(s.srv.ClientURL(), nats.InProcessServer(s.srv), nats.Name("roomcast"),
			nats.ClosedHandler(s.onClosed))
	} else {
		s.nc, err = s.connect(cfg.URLs)
	}
	if err != nil {
		s.shutdownServer()
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	if replicas == AutoReplicas {
		// The servers the connection knows: those given and those the
		// cluster told it of.
		replicas = min(max(len(s.nc.Servers()), 1), 3)
	}
	s.replicas = replicas
	if s.js, err = jetstream.New(s.nc); err == nil {
		err = s.setupRetrying(ctx, replicas, len(cfg.URLs) > 0)
	}
	if err != nil {
		s.nc.Close()
		s.shutdownServer()
		return nil, err
	}
	return s, nil
}

func (s *Store) onClosed(*nats.Conn) { close(s.closed) }

func (s *Store) connect(urls []string) (*nats.Conn, error) {
	log := s.log
	// A fleet rides out a NATS node's loss: reconnect forever, and log it.
	return nats.Connect(strings.Join(urls, ","),
		nats.Name("roomcast"),
		nats.ClosedHandler(s.onClosed),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("nats disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
	)
}

// setupWait bounds how long Open waits for a cluster's JetStream: a fleet's
// nodes may start with a cluster that is still electing its leaders.
const setupWait = 30 * time.Second

// setupRetrying runs setup, again and again for up to setupWait on a
// cluster (an embedded server is ready when it starts).
func (s *Store) setupRetrying(ctx context.Context, replicas int, cluster bool) error {
	deadline := time.Now().Add(setupWait)
	for {
		err := s.setup(ctx, replicas)
		if err == nil || !cluster || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		s.log.Warn("the cluster's JetStream is not ready yet; trying again", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (s *Store) setup(ctx context.Context, replicas int) error {
	kv := func(name string, ttl time.Duration) (jetstream.KeyValue, error) {
		b, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: name, TTL: ttl, Storage: jetstream.FileStorage, Replicas: replicas,
		})
		if err != nil {
			return nil, fmt.Errorf("store: bucket %s: %w", name, err)
		}
		return b, nil
	}
	var err error
	if s.jobs, err = kv(jobsBucket, 0); err != nil {
		return err
	}
	if s.rooms, err = kv(roomsBucket, 0); err != nil {
		return err
	}
	if s.idem, err = kv(idemBucket, IdempotencyTTL); err != nil {
		return err
	}
	if s.failed, err = kv(failedBucket, 0); err != nil {
		return err
	}
	s.events, err = s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: eventsStream, Subjects: []string{eventsSubject + "*"},
		Storage: jetstream.FileStorage, Replicas: replicas,
	})
	if err != nil {
		return fmt.Errorf("store: stream %s: %w", eventsStream, err)
	}
	// A work queue: a delivery leaves the stream when acked, so the oldest
	// message left on a job's subject is the one whose turn it is.
	// AllowDirect stays off so that GetMsg reads from the stream's leader,
	// never from a lagging replica.
	s.outbox, err = s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: outboxStream, Subjects: []string{outboxSubject + "*"},
		Retention: jetstream.WorkQueuePolicy,
		Storage:   jetstream.FileStorage, Replicas: replicas,
	})
	if err != nil {
		return fmt.Errorf("store: stream %s: %w", outboxStream, err)
	}
	s.webhooks, err = s.outbox.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:   outboxConsumer,
		AckPolicy: jetstream.AckExplicitPolicy,
		// A failed attempt is nak'ed with its backoff as delay, and the
		// server offers the delivery again when the delay is over, to
		// whichever node asks. The consumer's BackOff field would do the
		// same by making the backoff the ack timeout, but then a 1 s first
		// step is also the time an attempt (an HTTP request) and a delivery
		// waiting for its turn have before the server hands them to someone
		// else; AckWait keeps those two apart. MaxDeliver is unlimited on
		// purpose: the handler counts attempts and records the last failure
		// itself, so a delivery whose last attempt died with its process is
		// tried again instead of staying in the queue forever, blocking its
		// job's later deliveries.
		AckWait:       ackWait,
		MaxDeliver:    -1,
		MaxAckPending: 1000,
		Replicas:      replicas,
	})
	if err != nil {
		return fmt.Errorf("store: consumer %s: %w", outboxConsumer, err)
	}
	return nil
}

// Conn is the store's NATS connection, for the fleet's request-reply and
// heartbeats (issue 12). The store owns it: don't close it.
func (s *Store) Conn() *nats.Conn { return s.nc }

// Close drains the connection and stops the embedded server, if any.
// Callers stop their Events and ConsumeDeliveries contexts first.
func (s *Store) Close() error {
	err := s.nc.Drain()
	// Drain returns before the connection is closed; wait for it so the
	// embedded server isn't shut down under in-flight acks.
	if err == nil {
		<-s.closed
	}
	s.shutdownServer()
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

func (s *Store) shutdownServer() {
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
	}
}

// URL is the client URL of the embedded server when Config.Listen asked for
// a socket, and "" otherwise.
func (s *Store) URL() string {
	if s.srv == nil || s.srv.Addr() == nil {
		return ""
	}
	return s.srv.ClientURL()
}

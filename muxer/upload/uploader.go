package upload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Defaults of Options.
const (
	// MinPartSize is S3's smallest part but the last.
	MinPartSize = 5 << 20
	// DefaultFailoverAfter is how many failures in a row on the primary
	// move an output to the backup: with the backoff below that is about
	// 8 s of trying (0.5+1+2+4 s between five attempts), long enough to
	// ride out a blip, short enough that the backup holds nearly all of a
	// recording whose primary died.
	DefaultFailoverAfter = 5
	// DefaultPoll is how often the archive's and the playlist's files are
	// looked at for new data: one stat each, and the bound on how long a
	// finished fragment waits before it leaves.
	DefaultPoll = 200 * time.Millisecond
)

// Backoff between retries of a failed operation: from minBackoff doubling to
// maxBackoff, as the RTMP sink retries its URLs.
const (
	minBackoff = 500 * time.Millisecond
	maxBackoff = 8 * time.Second
	// opTimeout bounds one request, so a server that stops answering (rather
	// than refusing) counts as a failure too. A 5 MiB part within it needs
	// 350 kbit/s.
	opTimeout = 2 * time.Minute
)

// Options configure an Uploader.
type Options struct {
	// Dir is the job's folder; an object's key is the target's prefix and
	// the file's path relative to Dir (recording.mp4, hls/seg00001.ts).
	Dir     string
	Primary Target
	// Backup, when set, takes over an output whose upload keeps failing on
	// Primary (FailoverAfter failures in a row, or a refusal no retry can
	// cure, such as a missing bucket or refused credentials).
	Backup *Target
	// KeepLocal keeps each file after its upload is verified.
	KeepLocal     bool
	FailoverAfter int           // default DefaultFailoverAfter
	PartSize      int64         // default (and at least) MinPartSize
	Poll          time.Duration // default DefaultPoll
	// MaxBackoff caps the wait between retries; default 8 s.
	MaxBackoff time.Duration
	Logger     *slog.Logger
	// OnChange is told that an output's state changed (other than its byte
	// count); it runs on the output's goroutine and must not block.
	OnChange func(name string)
	// AWS is the AWS configuration; nil loads it by the SDK's conventions
	// (LoadAWS) on first use, off the caller's goroutine.
	AWS *aws.Config
}

// State is one output's upload.
type State struct {
	// Running while there is something to upload or retry.
	Running bool
	// Err is the last failure, cleared by the next success; after the end
	// it says why the upload did not complete (the local file is kept).
	Err error
	// Bytes are the bytes stored in the bucket so far.
	Bytes int64
	// Location is the object's s3:// URL: the archive, the HLS playlist,
	// or the latest thumbnail.
	Location string
	// Verified: completed, and checked against the local file (size, and
	// the MD5 of every part where the server's ETag gives it).
	Verified bool
	// Backup: the output has moved to the backup target.
	Backup bool
}

// site is one target with its client.
type site struct {
	t Target
	c *s3.Client
}

// Uploader runs a job's uploads: one goroutine per output (Archive, Files).
// Close completes and verifies them.
type Uploader struct {
	opts Options
	log  *slog.Logger

	// ctx is the network work's life; Close cancels it when its deadline
	// passes.
	ctx    context.Context
	cancel context.CancelFunc

	setupOnce sync.Once
	sites     []site // [0] primary, [1] backup
	setupErr  error
	red       redactor

	mu      sync.Mutex
	states  map[string]State
	workers []worker
}

type worker interface {
	finish()
	done() <-chan struct{}
}

// New returns an Uploader; nothing is sent until an output is added.
func New(opts Options) *Uploader {
	if opts.FailoverAfter <= 0 {
		opts.FailoverAfter = DefaultFailoverAfter
	}
	opts.PartSize = max(opts.PartSize, MinPartSize)
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = maxBackoff
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	u := &Uploader{opts: opts, log: opts.Logger.With("upload", opts.Primary.String()), states: map[string]State{}}
	u.ctx, u.cancel = context.WithCancel(context.Background())
	return u
}

// setup loads the AWS configuration and the credentials once. Without
// credentials nothing can be uploaded: every output fails at once with an
// error that says where they are looked for.
func (u *Uploader) setup() error {
	u.setupOnce.Do(func() {
		var cfg aws.Config
		if u.opts.AWS != nil {
			cfg = *u.opts.AWS
		} else {
			ctx, cancel := context.WithTimeout(u.ctx, 30*time.Second)
			defer cancel()
			var err error
			if cfg, err = LoadAWS(ctx); err != nil {
				u.setupErr = err
				return
			}
		}
		if cfg.Credentials == nil {
			u.setupErr = errors.New("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile (AWS_PROFILE), or run with an IAM role")
			return
		}
		ctx, cancel := context.WithTimeout(u.ctx, 30*time.Second)
		defer cancel()
		creds, err := cfg.Credentials.Retrieve(ctx)
		if err != nil {
			u.setupErr = fmt.Errorf("no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile with AWS_PROFILE, or run with an IAM role): %w", err)
			return
		}
		u.red = redactor{secrets: []string{creds.SecretAccessKey, creds.SessionToken, creds.AccessKeyID}}
		u.sites = append(u.sites, site{u.opts.Primary, NewClient(cfg, u.opts.Primary)})
		if b := u.opts.Backup; b != nil {
			u.sites = append(u.sites, site{*b, NewClient(cfg, *b)})
		}
	})
	return u.setupErr
}

// key is the object key of a file in the job's folder.
func (u *Uploader) key(s site, rel string) string { return s.t.Prefix + filepath.ToSlash(rel) }

// State returns an output's upload state.
func (u *Uploader) State(name string) (State, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	s, ok := u.states[name]
	return s, ok
}

// update changes an output's state and tells OnChange when more than its
// byte count changed.
func (u *Uploader) update(name string, f func(s *State)) {
	u.mu.Lock()
	old := u.states[name]
	s := old
	f(&s)
	u.states[name] = s
	u.mu.Unlock()
	changed := old.Running != s.Running || old.Location != s.Location || old.Verified != s.Verified ||
		old.Backup != s.Backup || (old.Err == nil) != (s.Err == nil) ||
		(old.Err != nil && s.Err != nil && old.Err.Error() != s.Err.Error())
	if changed && u.opts.OnChange != nil {
		u.opts.OnChange(name)
	}
}

func (u *Uploader) add(name string, w worker) {
	u.mu.Lock()
	u.workers = append(u.workers, w)
	u.states[name] = State{Running: true}
	u.mu.Unlock()
}

// Close completes every upload and verifies it, then deletes the local
// files unless KeepLocal. What ctx's deadline cuts short is left as it is:
// the local files are kept, and the state says so; an archive's multipart
// upload stays open for Recover. It returns the outputs' failures.
func (u *Uploader) Close(ctx context.Context) error {
	u.mu.Lock()
	ws := append([]worker(nil), u.workers...)
	u.mu.Unlock()
	for _, w := range ws {
		w.finish()
	}
	for _, w := range ws {
		select {
		case <-w.done():
		case <-ctx.Done():
			u.cancel()
			<-w.done()
		}
	}
	u.cancel()
	u.mu.Lock()
	defer u.mu.Unlock()
	var errs []error
	for name, s := range u.states {
		if s.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, s.Err))
		}
	}
	return errors.Join(errs...)
}

// retry is an output goroutine's bookkeeping of failures: which site it
// uses and how many attempts failed in a row there.
type retry struct {
	u     *Uploader
	name  string
	site  int
	fails int
}

// verdict is what to do after a failure.
type verdict int

const (
	again    verdict = iota // back off, then try again where it was
	failover                // start over on the backup
	giveUp                  // stop; the local file is kept
)

// failed records a failure and decides what follows.
func (r *retry) failed(err error) verdict {
	r.fails++
	perm := permanent(err)
	err = r.u.red.err(err)
	r.u.update(r.name, func(s *State) { s.Err = err })
	if r.site == 0 && len(r.u.sites) > 1 && (perm || r.fails >= r.u.opts.FailoverAfter) {
		r.u.log.Warn("upload moves to the backup", "output", r.name, "backup", r.u.sites[1].t.String(), "err", err)
		r.site, r.fails = 1, 0
		r.u.update(r.name, func(s *State) { s.Backup = true })
		return failover
	}
	if perm {
		return giveUp
	}
	r.u.log.Warn("upload failed, retrying", "output", r.name, "attempt", r.fails, "err", err)
	return again
}

// backoff waits before attempt fails+1, or until the uploader is cancelled.
func (r *retry) backoff() bool {
	d := minBackoff << min(r.fails-1, 5)
	t := time.NewTimer(min(d, r.u.opts.MaxBackoff))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.u.ctx.Done():
		return false
	}
}

// end marks the output's end: verified, or failed with the local file
// kept.
func (r *retry) end(err error, what string) {
	if err != nil {
		err = fmt.Errorf("%s: %w; the local file is kept", what, r.u.red.err(err))
		r.u.log.Error("upload failed", "output", r.name, "err", err)
	}
	r.u.update(r.name, func(s *State) {
		s.Running = false
		if err != nil {
			s.Err = err
		}
	})
}

func (r *retry) cur() site { return r.u.sites[r.site] }

// opCtx bounds one request.
func (u *Uploader) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(u.ctx, opTimeout)
}

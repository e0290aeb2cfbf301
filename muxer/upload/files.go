package upload

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Files is an output made of whole files in one folder of the job's (the
// HLS recording's segments and playlist, the thumbnails), each uploaded as
// an object once it is complete. Put queues a file; the queue holds names,
// never media, so it never blocks and never drops: a file's bytes are read
// from disk when its turn comes. Files go in the order they were put,
// each retried until it is stored, so an HLS playlist, put after the
// segments it names, never reaches the bucket before them.
type Files struct {
	retry
	dir      string    // the folder, relative to the job's
	playlist string    // the HLS playlist watched for new segments; "" for none
	main     string    // the file the state's location names
	since    time.Time // a playlist older than this is a past run's
	fin      chan struct{}
	ended    chan struct{}
	wake     chan struct{}

	mu     sync.Mutex
	queue  []string // relative to the job's folder
	queued map[string]bool

	// The goroutine's own.
	sent   map[string]mark // what the current site holds
	order  []string        // sent's files, first upload first
	plSeen mark
}

// mark tells whether a local file changed since it was uploaded.
type mark struct {
	size  int64
	mtime time.Time
	md5   string
}

// Files uploads the files of dir (relative to the job's folder) that are
// Put. main names the file the state's location gives. With playlist (a
// file in dir), the goroutine also watches that HLS playlist and uploads
// each segment it names, then the playlist. At Close, every file in dir
// not uploaded as it is now is uploaded, so nothing Put late or never is
// left behind.
func (u *Uploader) Files(name, dir, main, playlist string) *Files {
	f := &Files{retry: retry{u: u, name: name}, dir: dir, main: main, playlist: playlist, since: time.Now().Add(-time.Second),
		fin: make(chan struct{}), ended: make(chan struct{}), wake: make(chan struct{}, 1),
		queued: map[string]bool{}, sent: map[string]mark{}}
	u.add(name, f)
	go f.run()
	return f
}

// Put queues a file (a path relative to the job's folder, or absolute
// within it) for upload. It never blocks.
func (f *Files) Put(p string) {
	if filepath.IsAbs(p) {
		rel, err := filepath.Rel(f.u.opts.Dir, p)
		if err != nil || strings.HasPrefix(rel, "..") {
			return
		}
		p = rel
	}
	f.put(p)
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// put queues p once; the playlist moves to the end, after the segments
// queued since it was.
func (f *Files) put(p string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.queued[p] {
		if p != f.playlist {
			return
		}
		f.queue = slices.DeleteFunc(f.queue, func(q string) bool { return q == p })
	}
	f.queued[p] = true
	f.queue = append(f.queue, p)
}

func (f *Files) head() (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queue) == 0 {
		return "", false
	}
	return f.queue[0], true
}

func (f *Files) pop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.queued, f.queue[0])
	f.queue = f.queue[1:]
}

func (f *Files) finish()               { close(f.fin) }
func (f *Files) done() <-chan struct{} { return f.ended }

func (f *Files) run() {
	defer close(f.ended)
	if err := f.u.setup(); err != nil {
		f.end(err, "upload of "+f.dir+"/")
		return
	}
	f.u.update(f.name, func(s *State) { s.Location = f.cur().t.Location(f.u.key(f.cur(), f.main)) })
	finishing := false
	var tick <-chan time.Time
	if f.playlist != "" {
		t := time.NewTicker(f.u.opts.Poll)
		defer t.Stop()
		tick = t.C
	}
	wait := func() bool {
		if finishing {
			return f.u.ctx.Err() == nil
		}
		select {
		case <-f.wake:
		case <-tick:
		case <-f.fin:
			finishing = true
		case <-f.u.ctx.Done():
			return false
		}
		return true
	}
	for wait() {
		err := f.pass(finishing)
		if err == nil {
			f.fails = 0
			f.u.update(f.name, func(s *State) { s.Err = nil; s.Bytes = f.bytes() })
			if finishing {
				// Verified says the bucket holds the files; with none
				// (the job ended before any was written) it stays false.
				f.u.update(f.name, func(s *State) { s.Running, s.Verified = false, len(f.sent) > 0 })
				f.u.log.Info("upload verified", "output", f.name, "files", len(f.sent), "bytes", f.bytes())
				f.removeLocal()
				return
			}
			continue
		}
		switch f.failed(err) {
		case giveUp:
			f.end(err, "upload of "+f.dir+"/")
			return
		case failover:
			f.restart()
			continue
		}
		if !f.backoff() {
			break
		}
		select {
		case <-f.fin:
			finishing = true
		default:
		}
	}
	f.end(errors.New("stopped before it completed"), "upload of "+f.dir+"/")
}

// restart queues every file again, for the backup, in the order they
// first went.
func (f *Files) restart() {
	f.mu.Lock()
	q := append(slices.Clone(f.order), f.queue...)
	f.queue, f.queued = nil, map[string]bool{}
	f.mu.Unlock()
	for _, p := range q {
		f.put(p)
	}
	f.sent, f.order, f.plSeen = map[string]mark{}, nil, mark{}
	s := f.cur()
	f.u.update(f.name, func(st *State) { st.Bytes = 0; st.Location = s.t.Location(f.u.key(s, f.main)) })
}

func (f *Files) bytes() int64 {
	var n int64
	for _, m := range f.sent {
		n += m.size
	}
	return n
}

// pass finds what is new, uploads the queue, and with final verifies it all.
func (f *Files) pass(final bool) error {
	if f.playlist != "" {
		if err := f.scanPlaylist(); err != nil {
			return err
		}
	}
	if final {
		if err := f.scanDir(); err != nil {
			return err
		}
	}
	for {
		p, ok := f.head()
		if !ok {
			break
		}
		if err := f.upload(p); err != nil {
			return err
		}
		f.pop()
	}
	if final {
		return f.verify()
	}
	return nil
}

// scanPlaylist queues the segments a changed playlist names that are not
// uploaded yet, then the playlist.
func (f *Files) scanPlaylist() error {
	p := filepath.Join(f.u.opts.Dir, f.playlist)
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", f.playlist, err)
	}
	if fi.Size() == f.plSeen.size && fi.ModTime().Equal(f.plSeen.mtime) || fi.ModTime().Before(f.since) {
		return nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("reading %s: %w", f.playlist, err)
	}
	base := path.Dir(filepath.ToSlash(f.playlist))
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		ln := strings.TrimSpace(sc.Text())
		if ln == "" || strings.HasPrefix(ln, "#") || strings.Contains(ln, "://") {
			continue
		}
		seg := path.Join(base, ln)
		if _, ok := f.sent[seg]; !ok {
			f.put(seg)
		}
	}
	f.put(f.playlist)
	f.plSeen = mark{size: fi.Size(), mtime: fi.ModTime()}
	return nil
}

// scanDir queues every file of the folder that the bucket does not hold
// as it is now (temporary files aside), the playlist last.
func (f *Files) scanDir() error {
	ents, err := os.ReadDir(filepath.Join(f.u.opts.Dir, f.dir))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", f.dir, err)
	}
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".tmp") {
			continue
		}
		p := path.Join(filepath.ToSlash(f.dir), n)
		if p == f.playlist {
			continue
		}
		if fi, err := e.Info(); err == nil && f.changed(p, fi) {
			f.put(p)
		}
	}
	if f.playlist != "" {
		f.put(f.playlist)
	}
	return nil
}

func (f *Files) changed(p string, fi os.FileInfo) bool {
	m, ok := f.sent[p]
	return !ok || m.size != fi.Size() || !m.mtime.Equal(fi.ModTime())
}

// upload stores one file as it is now.
func (f *Files) upload(p string) error {
	full := filepath.Join(f.u.opts.Dir, p)
	fi, err := os.Stat(full)
	if errors.Is(err, os.ErrNotExist) {
		return nil // replaced or removed by its writer: nothing to keep
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	if !f.changed(p, fi) {
		return nil
	}
	b, err := os.ReadFile(full)
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	ctx, cancel := f.u.opCtx()
	defer cancel()
	s := f.cur()
	if err := putObject(ctx, s, f.u.key(s, p), b); err != nil {
		return err
	}
	sum := md5.Sum(b)
	if _, ok := f.sent[p]; !ok {
		f.order = append(f.order, p)
	}
	// The mark is the file as it was read: a file rewritten since (the
	// playlist, latest.jpg) has another size or time and goes again.
	f.sent[p] = mark{size: int64(len(b)), mtime: fi.ModTime(), md5: hex.EncodeToString(sum[:])}
	f.u.update(f.name, func(s *State) { s.Bytes = f.bytes() })
	return nil
}

// verify lists the folder's objects and checks each file against its
// local copy: the size, and the MD5 where the ETag gives it.
func (f *Files) verify() error {
	s := f.cur()
	prefix := f.u.key(s, filepath.ToSlash(f.dir)) + "/"
	ctx, cancel := context.WithTimeout(f.u.ctx, opTimeout)
	defer cancel()
	stored := map[string]mark{}
	pg := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{Bucket: aws.String(s.t.Bucket), Prefix: aws.String(prefix)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("verifying %s: %w", s.t.Location(prefix), sdkErr(err))
		}
		for _, o := range page.Contents {
			stored[aws.ToString(o.Key)] = mark{size: aws.ToInt64(o.Size), md5: strings.Trim(aws.ToString(o.ETag), `"`)}
		}
	}
	for p, m := range f.sent {
		key := f.u.key(s, p)
		got, ok := stored[key]
		var err error
		switch {
		case !ok:
			err = fmt.Errorf("verifying %s: not in the bucket", s.t.Location(key))
		case got.size != m.size:
			err = fmt.Errorf("verifying %s: %d bytes stored, %d sent", s.t.Location(key), got.size, m.size)
		default:
			if e := checkETag(got.md5, m.md5); e != nil {
				err = fmt.Errorf("verifying %s: %w", s.t.Location(key), e)
			}
		}
		if err != nil {
			delete(f.sent, p) // goes again on the next pass
			return err
		}
	}
	return nil
}

// removeLocal deletes the verified files (and the folder, once empty),
// unless KeepLocal. A file rewritten since its upload stays.
func (f *Files) removeLocal() {
	if f.u.opts.KeepLocal {
		return
	}
	for p, m := range f.sent {
		full := filepath.Join(f.u.opts.Dir, p)
		if fi, err := os.Stat(full); err != nil || fi.Size() != m.size || !fi.ModTime().Equal(m.mtime) {
			continue
		}
		if err := os.Remove(full); err != nil {
			f.u.log.Warn("removing an uploaded file", "path", p, "err", err)
		}
	}
	_ = os.Remove(filepath.Join(f.u.opts.Dir, f.dir))
}

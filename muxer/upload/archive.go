package upload

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// The archive is a file that grows while the job runs (a fragmented MP4
// whose fragments the muxer flushes as it cuts them) and uploads as one
// multipart upload. S3 takes parts of at least 5 MiB but the last, so parts
// are cut from the file at PartSize boundaries, and whatever lies beyond
// the last part is put as small "tail" objects beside it (KEY.tail.OFFSET),
// each holding the bytes that arrived since the one before. A crash, even
// one that takes the disk, so loses at most the fragment being written:
// Recover completes the upload with the tails as its last part.
//
// Tails hold only the new bytes, not everything after the last part, so
// they cost one more copy of the recording in requests rather than one per
// poll; Recover reads them back and sends them as one part (the last part
// has no minimum), where a single growing tail could have been copied
// server-side with UploadPartCopy but would have been re-sent whole every
// second.

// errNothing: the job ended with no file to upload.
var errNothing = errors.New("nothing to upload")

// TailInfix separates an archive's key from its tail objects' offsets.
const TailInfix = ".tail."

// tailKey names the tail object holding the archive's bytes from off on.
func tailKey(key string, off int64) string { return fmt.Sprintf("%s%s%016d", key, TailInfix, off) }

// archive is one growing file's upload; its goroutine owns all of it.
type archive struct {
	retry
	path  string // absolute
	rel   string
	since time.Time // a file older than this is a past run's, not yet replaced
	fin   chan struct{}
	ended chan struct{}

	// On the current site:
	key      string
	uploadID string
	parts    []types.CompletedPart
	md5s     []byte // the parts' MD5s, concatenated: the multipart ETag's input
	parted   int64  // bytes in parts
	tailEnd  int64  // bytes in parts and tails
	tails    []string
	buf      []byte
}

// Archive uploads the growing file rel (in the job's folder) as one
// multipart upload while it is written, and completes it at Close. name is
// the output's name in the states.
func (u *Uploader) Archive(name, rel string) {
	a := &archive{retry: retry{u: u, name: name}, path: filepath.Join(u.opts.Dir, rel), rel: rel,
		since: time.Now().Add(-time.Second), fin: make(chan struct{}), ended: make(chan struct{})}
	u.add(name, a)
	go a.run()
}

func (a *archive) finish()               { close(a.fin) }
func (a *archive) done() <-chan struct{} { return a.ended }

func (a *archive) run() {
	defer close(a.ended)
	if err := a.u.setup(); err != nil {
		a.end(err, "upload of "+a.rel)
		return
	}
	finishing := false
	wait := func() bool { // until there may be news, or the end
		if finishing {
			return a.u.ctx.Err() == nil
		}
		t := time.NewTimer(a.u.opts.Poll)
		defer t.Stop()
		select {
		case <-t.C:
		case <-a.fin:
			finishing = true
		case <-a.u.ctx.Done():
			return false
		}
		return true
	}
	for wait() {
		err := a.step(finishing)
		if errors.Is(err, errNothing) {
			a.u.update(a.name, func(s *State) { s.Running = false })
			return
		}
		if err == nil {
			a.fails = 0
			a.u.update(a.name, func(s *State) { s.Err = nil; s.Bytes = a.tailEnd })
			if finishing {
				a.u.update(a.name, func(s *State) { s.Running, s.Verified = false, true })
				a.u.log.Info("upload verified", "output", a.name, "location", a.cur().t.Location(a.key), "bytes", a.tailEnd)
				a.removeLocal()
				return
			}
			continue
		}
		switch a.failed(err) {
		case giveUp:
			a.end(err, "upload of "+a.rel)
			return
		case failover:
			a.reset()
			continue
		}
		if !a.backoff() {
			break
		}
		// A Close that came during the backoff.
		select {
		case <-a.fin:
			finishing = true
		default:
		}
	}
	why := errors.New("stopped before it completed")
	if a.uploadID != "" {
		why = fmt.Errorf("stopped before it completed (the multipart upload of %s stays open with its tail objects: roomcast upload-recover completes it)",
			a.cur().t.Location(a.key))
	}
	a.end(why, "upload of "+a.rel)
}

// reset forgets the site's upload: the next step starts over on the
// current site from the start of the local file.
func (a *archive) reset() {
	a.key, a.uploadID, a.parts, a.md5s, a.parted, a.tailEnd, a.tails = "", "", nil, nil, 0, 0, nil
	a.u.update(a.name, func(s *State) { s.Bytes = 0 })
}

// partSize grows with the part count so that S3's 10,000 parts reach far:
// 5 MiB for the first 2,000 parts (9.8 GiB), then doubling every 2,000.
func (a *archive) partSize() int64 {
	return a.u.opts.PartSize << min(len(a.parts)/2000, 9)
}

// step uploads what the file has that the bucket has not; with final, the
// file is complete, and step completes the upload and verifies it.
func (a *archive) step(final bool) error {
	fi, err := os.Stat(a.path)
	if err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist) && !final:
			return nil // the sink has not created it yet
		case errors.Is(err, os.ErrNotExist) && a.uploadID == "" && a.key == "":
			return errNothing // the job ended before its sink opened
		}
		return fmt.Errorf("reading %s: %w", a.rel, err)
	}
	size := fi.Size()
	if size < a.tailEnd {
		// Replaced or truncated under the upload: what went up is no
		// longer the file. Start over; a past run's bytes that went up
		// stay in the open upload for Recover.
		a.reset()
		return fmt.Errorf("%s shrank from %d to %d bytes while it was uploaded; starting over", a.rel, a.tailEnd, size)
	}
	if a.uploadID == "" {
		// Until its sink opens it, the file may be a past run's, which the
		// sink is about to truncate: not this run's recording.
		if !final && (size == 0 || fi.ModTime().Before(a.since)) {
			return nil
		}
		if err := a.begin(); err != nil {
			return err
		}
	}
	cut := false
	for size-a.parted >= a.partSize() {
		if err := a.putPart(a.partSize()); err != nil {
			return err
		}
		cut = true
	}
	if final {
		if size > a.parted || len(a.parts) == 0 {
			if err := a.putPart(size - a.parted); err != nil {
				return err
			}
		}
		return a.complete(size)
	}
	if cut || size > a.tailEnd {
		return a.putTail(size, cut)
	}
	return nil
}

// begin starts the upload on the current site. An upload that a crashed
// run left open at the same key is completed first (Recover), and this
// run's archive then goes beside it rather than over it, as it goes beside
// any object already at the key: nothing recorded is overwritten.
func (a *archive) begin() error {
	s := a.cur()
	base := a.u.key(s, a.rel)
	ctx, cancel := a.u.opCtx()
	defer cancel()
	id, err := openUpload(ctx, s, base)
	if err != nil {
		return err
	}
	if id != "" {
		r, err := recoverUpload(ctx, s, base, id)
		if err != nil {
			return fmt.Errorf("completing the upload a crashed run left at %s: %w", s.t.Location(base), sdkErr(err))
		}
		a.u.log.Warn("completed the upload a crashed run left", "location", s.t.Location(base), "bytes", r.Size)
	}
	key, err := freeKey(ctx, s, base)
	if err != nil {
		return err
	}
	out, err := s.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(s.t.Bucket), Key: aws.String(key), ContentType: aws.String(contentType(key)),
	})
	if err != nil {
		return fmt.Errorf("starting the upload to %s: %w", s.t.Location(key), sdkErr(err))
	}
	a.key, a.uploadID = key, aws.ToString(out.UploadId)
	a.u.update(a.name, func(st *State) { st.Location = s.t.Location(key) })
	return nil
}

// read returns n bytes of the file from off.
func (a *archive) read(off, n int64) ([]byte, error) {
	if int64(cap(a.buf)) < n {
		a.buf = make([]byte, n)
	}
	b := a.buf[:n]
	f, err := os.Open(a.path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", a.rel, err)
	}
	defer f.Close()
	if _, err := f.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("reading %s at %d: %w", a.rel, off, err)
	}
	return b, nil
}

// putPart uploads the next n bytes as the next part.
func (a *archive) putPart(n int64) error {
	b, err := a.read(a.parted, n)
	if err != nil {
		return err
	}
	sum := md5.Sum(b)
	num := int32(len(a.parts) + 1)
	ctx, cancel := a.u.opCtx()
	defer cancel()
	s := a.cur()
	out, err := s.c.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: aws.String(s.t.Bucket), Key: aws.String(a.key), UploadId: aws.String(a.uploadID),
		PartNumber: aws.Int32(num), Body: bytes.NewReader(b), ContentLength: aws.Int64(n),
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	})
	if err != nil {
		if noSuchUpload(err) {
			a.reset()
		}
		return fmt.Errorf("uploading part %d of %s: %w", num, s.t.Location(a.key), sdkErr(err))
	}
	if err := checkETag(aws.ToString(out.ETag), hex.EncodeToString(sum[:])); err != nil {
		return fmt.Errorf("part %d of %s: %w", num, s.t.Location(a.key), err)
	}
	a.parts = append(a.parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag})
	a.md5s = append(a.md5s, sum[:]...)
	a.parted += n
	a.tailEnd = max(a.tailEnd, a.parted)
	return nil
}

// putTail stores the bytes beyond the last tail as a tail object. After a
// part was cut (rebase), the tails before it are replaced by one holding
// everything after the part, so tails never pile up past a part's worth.
func (a *archive) putTail(size int64, rebase bool) error {
	from := a.tailEnd
	if rebase {
		from = a.parted
	}
	s := a.cur()
	ctx, cancel := a.u.opCtx()
	defer cancel()
	var put string
	if size > from {
		b, err := a.read(from, size-from)
		if err != nil {
			return err
		}
		put = tailKey(a.key, from)
		if err := putObject(ctx, s, put, b); err != nil {
			return err
		}
	}
	if rebase {
		a.deleteTails(ctx)
	}
	if put != "" {
		a.tails = append(a.tails, put)
	}
	a.tailEnd = size
	return nil
}

// deleteTails removes the tail objects; a failure only leaves litter that
// the next completion removes.
func (a *archive) deleteTails(ctx context.Context) {
	s := a.cur()
	for _, k := range a.tails {
		if _, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.t.Bucket), Key: aws.String(k)}); err != nil {
			a.u.log.Debug("deleting a tail object", "key", k, "err", a.u.red.err(err))
		}
	}
	a.tails = nil
}

// complete completes the multipart upload and verifies the object against
// the local file.
func (a *archive) complete(size int64) error {
	s := a.cur()
	ctx, cancel := a.u.opCtx()
	defer cancel()
	out, err := s.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(s.t.Bucket), Key: aws.String(a.key), UploadId: aws.String(a.uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: a.parts},
	})
	if err != nil {
		if noSuchUpload(err) {
			a.reset()
		}
		return fmt.Errorf("completing %s: %w", s.t.Location(a.key), sdkErr(err))
	}
	a.tailEnd = size
	want := multipartETag(a.md5s, len(a.parts))
	if err := verify(ctx, s, a.key, size, want); err != nil {
		return err
	}
	if got := aws.ToString(out.ETag); got != "" {
		if err := checkETag(got, want); err != nil {
			return fmt.Errorf("completed %s: %w", s.t.Location(a.key), err)
		}
	}
	a.deleteTails(ctx)
	// Tails of earlier attempts (a rebase whose deletes failed).
	deleteTails(ctx, s, a.key)
	a.uploadID = ""
	return nil
}

func (a *archive) removeLocal() {
	if a.u.opts.KeepLocal {
		return
	}
	if err := os.Remove(a.path); err != nil {
		a.u.log.Warn("removing the uploaded file", "path", a.rel, "err", err)
	}
}

// multipartETag is the ETag S3 gives a multipart object: the MD5 of its
// parts' MD5s, a dash and the part count.
func multipartETag(md5s []byte, parts int) string {
	sum := md5.Sum(md5s)
	return fmt.Sprintf("%s-%d", hex.EncodeToString(sum[:]), parts)
}

// checkETag compares an ETag with the one expected, when it has the MD5
// form (servers with encryption at rest give other ETags, which say
// nothing about the bytes).
func checkETag(got, want string) error {
	got = strings.Trim(got, `"`)
	if !md5Form(got) {
		return nil
	}
	if !strings.EqualFold(got, want) {
		return fmt.Errorf("the server's ETag %s is not the MD5 of what was sent (%s)", got, want)
	}
	return nil
}

// md5Form: 32 hex digits, maybe with a multipart suffix -N.
func md5Form(e string) bool {
	h, _, _ := strings.Cut(e, "-")
	if len(h) != 32 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

// verify checks that the object at key has the size, and the ETag where
// the server gives one of MD5 form, of what was uploaded.
func verify(ctx context.Context, s site, key string, size int64, etag string) error {
	h, err := s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.t.Bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("verifying %s: %w", s.t.Location(key), sdkErr(err))
	}
	if got := aws.ToInt64(h.ContentLength); got != size {
		return fmt.Errorf("verifying %s: %d bytes stored, the local file has %d", s.t.Location(key), got, size)
	}
	if err := checkETag(aws.ToString(h.ETag), etag); err != nil {
		return fmt.Errorf("verifying %s: %w", s.t.Location(key), err)
	}
	return nil
}

// putObject stores b at key, checked by its MD5 on the way and by the
// ETag the server answers.
func putObject(ctx context.Context, s site, key string, b []byte) error {
	sum := md5.Sum(b)
	out, err := s.c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.t.Bucket), Key: aws.String(key), Body: bytes.NewReader(b),
		ContentLength: aws.Int64(int64(len(b))), ContentType: aws.String(contentType(key)),
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	})
	if err != nil {
		return fmt.Errorf("uploading %s: %w", s.t.Location(key), sdkErr(err))
	}
	if err := checkETag(aws.ToString(out.ETag), hex.EncodeToString(sum[:])); err != nil {
		return fmt.Errorf("uploading %s: %w", s.t.Location(key), err)
	}
	return nil
}

// openUpload finds the newest multipart upload open at exactly key; ""
// when there is none. (Older ones, left by crashes with no start between
// them, stay open: completing them at the same key would overwrite.)
func openUpload(ctx context.Context, s site, key string) (string, error) {
	var id string
	var at time.Time
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(s.t.Bucket), Prefix: aws.String(key)}
	for {
		out, err := s.c.ListMultipartUploads(ctx, in)
		if err != nil {
			return "", fmt.Errorf("listing the uploads open at %s: %w", s.t.Location(key), sdkErr(err))
		}
		for _, up := range out.Uploads {
			if aws.ToString(up.Key) == key && (id == "" || !aws.ToTime(up.Initiated).Before(at)) {
				id, at = aws.ToString(up.UploadId), aws.ToTime(up.Initiated)
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return id, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// freeKey is key, or the first of KEY-2.EXT, KEY-3.EXT, ... that holds
// no object.
func freeKey(ctx context.Context, s site, key string) (string, error) {
	ext := path.Ext(key)
	stem := strings.TrimSuffix(key, ext)
	for n := 1; n < 1000; n++ {
		k := key
		if n > 1 {
			k = fmt.Sprintf("%s-%d%s", stem, n, ext)
		}
		_, err := s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.t.Bucket), Key: aws.String(k)})
		var nf *types.NotFound
		switch {
		case errors.As(err, &nf):
			return k, nil
		case err != nil:
			return "", fmt.Errorf("looking for %s: %w", s.t.Location(k), sdkErr(err))
		}
	}
	return "", fmt.Errorf("%s and 998 keys beside it are taken", s.t.Location(key))
}

// contentType is what a player needs to be told of the objects roomcast
// writes.
func contentType(key string) string {
	switch path.Ext(key) {
	case ".mp4":
		return "video/mp4"
	case ".m4a":
		return "audio/mp4"
	case ".m3u8":
		return "application/vnd.apple.mpegurl"
	case ".ts":
		return "video/mp2t"
	case ".jpg":
		return "image/jpeg"
	}
	return "application/octet-stream"
}

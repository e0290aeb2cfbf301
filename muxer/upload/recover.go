package upload

import (
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Recovered is what Recover completed.
type Recovered struct {
	Location string
	// Size is the object's; TailBytes of it came from the tail objects.
	Size      int64
	Parts     int
	TailBytes int64
}

// ErrNoUpload is Recover's error when no upload is open at the key.
var ErrNoUpload = errors.New("no multipart upload is open there")

// Recover completes the archive upload that a crashed job left open at
// key (the target's prefix included): its parts, then the bytes of its
// tail objects that follow them as the last part. The object so holds the
// recording up to the last fragment that reached the bucket, and plays
// like the file a crash leaves on disk. It then verifies the object and
// deletes the tails.
func Recover(ctx context.Context, cfg aws.Config, t Target, key string) (Recovered, error) {
	s := site{t, NewClient(cfg, t)}
	id, err := openUpload(ctx, s, key)
	if err != nil {
		return Recovered{}, err
	}
	if id == "" {
		return Recovered{}, fmt.Errorf("recovering %s: %w", t.Location(key), ErrNoUpload)
	}
	return recoverUpload(ctx, s, key, id)
}

func recoverUpload(ctx context.Context, s site, key, id string) (Recovered, error) {
	r := Recovered{Location: s.t.Location(key)}
	bucket := aws.String(s.t.Bucket)
	var parts []types.Part
	in := &s3.ListPartsInput{Bucket: bucket, Key: aws.String(key), UploadId: aws.String(id)}
	for {
		out, err := s.c.ListParts(ctx, in)
		if err != nil {
			return r, fmt.Errorf("listing the parts of %s: %w", r.Location, sdkErr(err))
		}
		parts = append(parts, out.Parts...)
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		in.PartNumberMarker = out.NextPartNumberMarker
	}
	slices.SortFunc(parts, func(a, b types.Part) int { return cmp.Compare(aws.ToInt32(a.PartNumber), aws.ToInt32(b.PartNumber)) })
	var done []types.CompletedPart
	var md5s []byte
	var size int64
	for i, p := range parts {
		if aws.ToInt32(p.PartNumber) != int32(i+1) {
			break // a gap: what follows it is not contiguous with the file
		}
		done = append(done, types.CompletedPart{PartNumber: p.PartNumber, ETag: p.ETag})
		size += aws.ToInt64(p.Size)
		if e := strings.Trim(aws.ToString(p.ETag), `"`); md5s != nil || i == 0 {
			if b, err := hex.DecodeString(e); err == nil && len(b) == md5.Size {
				md5s = append(md5s, b...)
			} else {
				md5s = nil
			}
		}
	}

	tails, err := listTails(ctx, s, key)
	if err != nil {
		return r, err
	}
	var tail []byte
	for _, t := range tails {
		end := t.off + t.size
		if end <= size+int64(len(tail)) {
			continue // within the parts, or an earlier tail
		}
		if t.off > size+int64(len(tail)) {
			break // a gap
		}
		b, err := getObject(ctx, s, t.key)
		if err != nil {
			return r, err
		}
		if int64(len(b)) != t.size {
			return r, fmt.Errorf("tail %s changed while it was read", s.t.Location(t.key))
		}
		tail = append(tail, b[size+int64(len(tail))-t.off:]...)
	}
	if len(tail) > 0 || len(done) == 0 {
		if len(tail) == 0 {
			return r, fmt.Errorf("recovering %s: nothing was uploaded", r.Location)
		}
		sum := md5.Sum(tail)
		num := int32(len(done) + 1)
		out, err := s.c.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: bucket, Key: aws.String(key), UploadId: aws.String(id), PartNumber: aws.Int32(num),
			Body: bytes.NewReader(tail), ContentLength: aws.Int64(int64(len(tail))),
			ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
		})
		if err != nil {
			return r, fmt.Errorf("uploading the tail of %s: %w", r.Location, sdkErr(err))
		}
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag})
		if md5s != nil || num == 1 {
			md5s = append(md5s, sum[:]...)
		}
		r.TailBytes = int64(len(tail))
		size += r.TailBytes
	}
	if _, err := s.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: bucket, Key: aws.String(key), UploadId: aws.String(id),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
	}); err != nil {
		return r, fmt.Errorf("completing %s: %w", r.Location, sdkErr(err))
	}
	want := ""
	if md5s != nil {
		want = multipartETag(md5s, len(done))
	}
	if err := verify(ctx, s, key, size, want); err != nil {
		return r, err
	}
	r.Size, r.Parts = size, len(done)
	deleteTails(ctx, s, key)
	return r, nil
}

type tailObject struct {
	key       string
	off, size int64
}

// listTails lists key's tail objects by offset.
func listTails(ctx context.Context, s site, key string) ([]tailObject, error) {
	var tails []tailObject
	p := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{Bucket: aws.String(s.t.Bucket), Prefix: aws.String(key + TailInfix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the tails of %s: %w", s.t.Location(key), sdkErr(err))
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			off, err := strconv.ParseInt(strings.TrimPrefix(k, key+TailInfix), 10, 64)
			if err != nil {
				continue
			}
			tails = append(tails, tailObject{key: k, off: off, size: aws.ToInt64(o.Size)})
		}
	}
	slices.SortFunc(tails, func(a, b tailObject) int {
		// By offset, the longest first where two start together.
		return cmp.Or(cmp.Compare(a.off, b.off), cmp.Compare(b.size, a.size))
	})
	return tails, nil
}

// deleteTails removes every tail object of key, as far as it can.
func deleteTails(ctx context.Context, s site, key string) {
	tails, err := listTails(ctx, s, key)
	if err != nil {
		return
	}
	for _, t := range tails {
		_, _ = s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.t.Bucket), Key: aws.String(t.key)})
	}
}

func getObject(ctx context.Context, s site, key string) ([]byte, error) {
	out, err := s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.t.Bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.t.Location(key), sdkErr(err))
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.t.Location(key), sdkErr(err))
	}
	return b, nil
}

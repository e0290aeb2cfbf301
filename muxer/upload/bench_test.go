package upload

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/s3test"
)

// BenchmarkArchive uploads a 64 MiB file already on disk (a job catching
// up from its file after an outage) as a multipart upload, completed and
// verified: the uploader's throughput to a loopback server.
func BenchmarkArchive(b *testing.B) {
	srv := s3test.Start(b)
	srv.CreateBucket(b, "bench")
	dir := b.TempDir()
	data := make([]byte, 64<<20)
	_, _ = rand.Read(data)
	if err := os.WriteFile(filepath.Join(dir, "recording.mp4"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for i := 0; b.Loop(); i++ {
		u := New(Options{Dir: dir, KeepLocal: true, Poll: 10 * time.Millisecond,
			Primary: Target{Bucket: "bench", Prefix: fmt.Sprintf("run%d/", i), Endpoint: srv.Endpoint, PathStyle: true}})
		u.Archive("recording", "recording.mp4")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		err := u.Close(ctx)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFiles uploads 100 HLS-sized segments (600 KiB, 2 s at
// 2.5 Mb/s) and verifies them.
func BenchmarkFiles(b *testing.B) {
	srv := s3test.Start(b)
	srv.CreateBucket(b, "bench")
	dir := b.TempDir()
	os.MkdirAll(filepath.Join(dir, "hls"), 0o755)
	seg := make([]byte, 600<<10)
	for i := range 100 {
		_, _ = rand.Read(seg)
		os.WriteFile(filepath.Join(dir, "hls", fmt.Sprintf("seg%05d.ts", i)), seg, 0o644)
	}
	b.SetBytes(100 * int64(len(seg)))
	for i := 0; b.Loop(); i++ {
		u := New(Options{Dir: dir, KeepLocal: true,
			Primary: Target{Bucket: "bench", Prefix: fmt.Sprintf("run%d/", i), Endpoint: srv.Endpoint, PathStyle: true}})
		u.Files("hlsRecording", "hls", "hls/index.m3u8", "")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		err := u.Close(ctx)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
}

package s3test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/roomcast/roomcast/internal/syncbuf"
)

// Install is the command that installs the server (scripts/install-deps.sh
// test runs it).
const Install = "GOFLAGS= go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// The root user's credentials and the region the server runs with.
const (
	AccessKey = "roomcasttest"
	SecretKey = "roomcasttest-secret-0123456789"
	Region    = "us-east-1"
)

// Server is a running versitygw.
type Server struct {
	Bin      string
	Dir      string // the posix backend's root: one folder per bucket
	Addr     string // 127.0.0.1:PORT
	Endpoint string // http://127.0.0.1:PORT

	t      testing.TB
	mu     sync.Mutex
	cmd    *exec.Cmd
	log    *syncbuf.Buffer
	waited chan struct{}
}

// FindBin finds versitygw: $VERSITYGW_BIN, then $(go env GOPATH)/bin (where
// scripts/install-deps.sh puts it), then PATH.
func FindBin() (string, error) {
	if p := os.Getenv("VERSITYGW_BIN"); p != "" {
		return p, nil
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = string(bytes.TrimSpace(out))
		}
	}
	if gopath != "" {
		p := filepath.Join(gopath, "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("versitygw not found; install it with: %s (or scripts/install-deps.sh test)", Install)
}

// Start runs a server on a free loopback port until the test ends, and
// sets the test's AWS environment to its credentials (so tests that use it
// must not run in parallel with others that set that environment).
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := FindBin()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &Server{Bin: bin, Dir: t.TempDir(), Addr: addr, Endpoint: "http://" + addr, t: t}
	SetEnv(t, AccessKey, SecretKey)
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

// SetEnv gives the test the AWS environment of these credentials, and
// keeps the machine's own AWS files and instance metadata out of it.
func SetEnv(t testing.TB, key, secret string) {
	t.Setenv("AWS_ACCESS_KEY_ID", key)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", Region)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// Env is the environment a child process needs to reach the server.
func Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + AccessKey, "AWS_SECRET_ACCESS_KEY=" + SecretKey, "AWS_REGION=" + Region,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent"}
}

// Restart starts the server again (or first) on the same port and folder,
// and waits until it answers S3 requests.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		s.t.Fatal("s3test: Restart while the server runs; Kill it first")
	}
	s.log = &syncbuf.Buffer{}
	cmd := exec.Command(s.Bin, "--port", s.Addr, "--quiet", "posix", s.Dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+AccessKey, "ROOT_SECRET_KEY="+SecretKey)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		s.t.Fatalf("s3test: starting %s: %v", s.Bin, err)
	}
	s.cmd = cmd
	s.waited = make(chan struct{})
	waited := s.waited
	go func() { _ = cmd.Wait(); close(waited) }()
	s.mu.Unlock()

	deadline := time.Now().Add(20 * time.Second)
	c := s.Client()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
		cancel()
		if err == nil {
			return
		}
		select {
		case <-waited:
			s.t.Fatalf("s3test: versitygw exited at start:\n%s", s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("s3test: versitygw did not answer within 20 s: %v\n%s", err, s.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill stops the server at once (SIGKILL), as an outage would.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.waited
	s.cmd = nil
}

// Client is an S3 client with the root user's credentials.
func (s *Server) Client() *s3.Client {
	return s.ClientWith(AccessKey, SecretKey)
}

// ClientWith is an S3 client of the server with other credentials.
func (s *Server) ClientWith(key, secret string) *s3.Client {
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, ""),
		// Plain requests, as the uploader makes them.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		RetryMaxAttempts:           1,
	})
}

// CreateBucket makes a bucket.
func (s *Server) CreateBucket(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("s3test: creating bucket %s: %v", name, err)
	}
}

// Get downloads an object whole.
func (s *Server) Get(t testing.TB, bucket, key string) []byte {
	t.Helper()
	b, err := s.TryGet(bucket, key)
	if err != nil {
		t.Fatalf("s3test: get s3://%s/%s: %v", bucket, key, err)
	}
	return b
}

// TryGet downloads an object whole, or says why it could not.
func (s *Server) TryGet(bucket, key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := s.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// Keys lists a bucket's object keys under prefix, with their sizes.
func (s *Server) Keys(t testing.TB, bucket, prefix string) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keys := map[string]int64{}
	p := s3.NewListObjectsV2Paginator(s.Client(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("s3test: listing s3://%s/%s: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			keys[aws.ToString(o.Key)] = aws.ToInt64(o.Size)
		}
	}
	return keys
}

// Log is what the server printed so far.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return ""
	}
	return s.log.String()
}

// Port is the server's port.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

package service

// A job's files on every node that holds some.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/roomcast/roomcast/worker/api"
)

// readChunk is the most one read call moves between nodes: well inside
// NATS's default 1 MiB message, base64 and all.
const readChunk = 512 << 10

func (s *Service) nodeName() string {
	if s.opts.Fleet == nil {
		return ""
	}
	return s.opts.Fleet.Name()
}

// Files implements api.FleetService.
func (s *Service) Files(ctx context.Context, id string) ([]api.FileInfo, error) {
	st, err := s.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	files, err := s.filesHere(ctx, id)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{s.nodeName(): true}
	for _, p := range st.Parts {
		if seen[p.Node] {
			continue
		}
		seen[p.Node] = true
		r, err := s.ask(ctx, p.Node, opFiles, call{ID: id})
		if err != nil {
			// Its files are out of reach while it is away; say so in
			// the log, and list what can be had.
			s.log.Warn("listing a job's files on another node", "job", id, "node", p.Node, "err", err)
			for _, f := range p.Files {
				files = append(files, api.FileInfo{Path: f, Node: p.Node, Unavailable: true})
			}
			continue
		}
		files = append(files, r.Files...)
	}
	if len(files) == 0 && len(st.Parts) <= 1 {
		if _, err := os.Stat(filepath.Join(s.opts.Data, "jobs", id)); err != nil {
			return nil, &api.Problem{Code: api.CodeNotFound, Message: "job " + id + " has written no files"}
		}
	}
	return files, nil
}

// filesHere lists the job's files on this node.
func (s *Service) filesHere(_ context.Context, id string) ([]api.FileInfo, error) {
	root, err := os.OpenRoot(filepath.Join(s.opts.Data, "jobs", id))
	if errors.Is(err, os.ErrNotExist) {
		return []api.FileInfo{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer root.Close()
	files, err := api.ListRoot(root)
	for i := range files {
		files[i].Node = s.nodeName()
	}
	return files, err
}

// readHere reads up to n bytes at off of one of the job's files here.
func (s *Service) readHere(_ context.Context, id, path string, off int64, n int) ([]byte, error) {
	root, err := os.OpenRoot(filepath.Join(s.opts.Data, "jobs", id))
	if err != nil {
		return nil, &api.Problem{Code: api.CodeNotFound, Message: "no file " + path + " in job " + id}
	}
	defer root.Close()
	f, err := root.Open(path)
	if err != nil {
		return nil, &api.Problem{Code: api.CodeNotFound, Message: "no file " + path + " in job " + id}
	}
	defer f.Close()
	b := make([]byte, min(max(n, 0), readChunk))
	m, err := f.ReadAt(b, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b[:m], nil
}

// OpenFile implements api.FleetService: a file of the job on another node,
// read from there as it is served. Of two parts with a file of the same
// name (status.json), the later part's is the one served.
func (s *Service) OpenFile(ctx context.Context, id, path string) (api.File, error) {
	if s.opts.Fleet == nil {
		return nil, &api.Problem{Code: api.CodeNotFound, Message: "no file " + path + " in job " + id}
	}
	st, err := s.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	for i := len(st.Parts) - 1; i >= 0; i-- {
		node := st.Parts[i].Node
		if node == s.nodeName() {
			continue
		}
		r, err := s.ask(ctx, node, opFiles, call{ID: id})
		if err != nil {
			continue
		}
		for _, fi := range r.Files {
			if fi.Path == path {
				return &remoteFile{ctx: ctx, s: s, id: id, info: fi}, nil
			}
		}
	}
	return nil, &api.Problem{Code: api.CodeNotFound, Message: "no file " + path + " in job " + id}
}

// remoteFile reads a file on another node in chunks, as http.ServeContent
// asks for them (ranges included).
type remoteFile struct {
	ctx  context.Context
	s    *Service
	id   string
	info api.FileInfo
	off  int64
}

func (f *remoteFile) Info() api.FileInfo { return f.info }

func (f *remoteFile) Read(p []byte) (int, error) {
	if f.off >= f.info.Bytes {
		return 0, io.EOF
	}
	r, err := f.s.ask(f.ctx, f.info.Node, opRead, call{ID: f.id, Path: f.info.Path, Offset: f.off, Len: min(len(p), readChunk)})
	if err != nil {
		return 0, fmt.Errorf("service: reading %s on %s: %w", f.info.Path, f.info.Node, err)
	}
	if len(r.Data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.Data)
	f.off += int64(n)
	return n, nil
}

func (f *remoteFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += f.off
	case io.SeekEnd:
		off += f.info.Bytes
	default:
		return 0, errors.New("service: seek: bad whence")
	}
	if off < 0 {
		return 0, errors.New("service: seek before the start")
	}
	f.off = off
	return off, nil
}

func (f *remoteFile) Close() error { return nil }

package api

import (
	"context"
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"sort"
	"time"
)

// FileInfo is one output file of a job.
type FileInfo struct {
	Path    string    `json:"path"`
	Bytes   int64     `json:"bytes"`
	ModTime time.Time `json:"modTime"`
	// Node holds the file, in a fleet.
	Node string `json:"node,omitempty"`
	// Unavailable: the node that holds the file does not answer now, so
	// the file is listed (from the job's parts) but cannot be fetched.
	Unavailable bool `json:"unavailable,omitempty"`
}

// ListRoot lists the regular files under root, by path. Links and the like
// are not listed: they are not served either.
func ListRoot(root *os.Root) ([]FileInfo, error) {
	files := []FileInfo{}
	err := fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files = append(files, FileInfo{Path: p, Bytes: fi.Size(), ModTime: fi.ModTime().UTC()})
		return nil
	})
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, err
}

func (a *API) listFiles(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var files []FileInfo
	if f, ok := a.opts.Service.(FleetService); ok {
		var err error
		if files, err = f.Files(r.Context(), id); err != nil {
			a.writeError(w, r, err)
			return
		}
	} else {
		root, err := a.opts.Service.JobFiles(r.Context(), id)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		files, err = ListRoot(root)
		root.Close()
		if err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"files": files})
}

func (a *API) getFile(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	name := r.PathValue("path")
	notFound := &Problem{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no file " + name + " in job " + id}
	if !fs.ValidPath(name) || name == "." {
		writeProblem(w, notFound)
		return
	}
	f, err := a.openFile(r.Context(), id, name)
	if err != nil {
		var p *Problem
		if errors.As(err, &p) && p.Code != CodeNotFound {
			a.writeError(w, r, err)
			return
		}
		if !errors.Is(err, fs.ErrNotExist) {
			a.log.Debug("refused file", "job", id, "path", name, "err", err)
		}
		writeProblem(w, notFound)
		return
	}
	defer f.Close()
	if ct := contentType(name); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.Header().Set("Cache-Control", "no-store")
	http.ServeContent(w, r, path.Base(name), f.Info().ModTime, f)
}

// openFile opens a job's file here, or on the node that holds it.
func (a *API) openFile(ctx context.Context, id, name string) (File, error) {
	root, err := a.opts.Service.JobFiles(ctx, id)
	if err == nil {
		// os.Root refuses any path, symlinks included, that leaves the
		// folder; to a client that is the same as a file that is not
		// there.
		f, ferr := root.Open(name)
		root.Close()
		if ferr == nil {
			fi, serr := f.Stat()
			if serr == nil && fi.Mode().IsRegular() {
				return localFile{f, FileInfo{Path: name, Bytes: fi.Size(), ModTime: fi.ModTime()}}, nil
			}
			f.Close()
		}
		err = fs.ErrNotExist
	}
	if fl, ok := a.opts.Service.(FleetService); ok {
		var p *Problem
		if errors.Is(err, fs.ErrNotExist) || (errors.As(err, &p) && p.Code == CodeNotFound) {
			return fl.OpenFile(ctx, id, name)
		}
	}
	return nil, err
}

type localFile struct {
	*os.File
	info FileInfo
}

func (f localFile) Info() FileInfo { return f.info }

func contentType(name string) string {
	switch path.Ext(name) {
	case ".mp4":
		return "video/mp4"
	case ".m4a":
		return "audio/mp4"
	case ".m3u8":
		return "application/vnd.apple.mpegurl"
	case ".ts":
		return "video/mp2t"
	case ".json":
		return "application/json"
	}
	return mime.TypeByExtension(path.Ext(name))
}

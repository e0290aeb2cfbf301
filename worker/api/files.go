package api

import (
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"sort"
	"time"
)

// FileInfo is one output file of a job.
type FileInfo struct {
	Path    string    `json:"path"`
	Bytes   int64     `json:"bytes"`
	ModTime time.Time `json:"modTime"`
}

func (a *API) listFiles(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	root, err := a.opts.Service.JobFiles(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	defer root.Close()
	files := []FileInfo{}
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil // folders are walked; links and the like are not served
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files = append(files, FileInfo{Path: p, Bytes: fi.Size(), ModTime: fi.ModTime().UTC()})
		return nil
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
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
	root, err := a.opts.Service.JobFiles(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	defer root.Close()
	// os.Root refuses any path, symlinks included, that leaves the folder;
	// to a client that is the same as a file that is not there.
	f, err := root.Open(name)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			a.log.Debug("refused file", "job", id, "path", name, "err", err)
		}
		writeProblem(w, notFound)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		writeProblem(w, notFound)
		return
	}
	if ct := contentType(name); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.Header().Set("Cache-Control", "no-store")
	http.ServeContent(w, r, path.Base(name), fi.ModTime(), f)
}

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

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/roomcast/roomcast/config"
)

// The upload flags merge into the job's upload, over a config file's, and
// each needs an upload to merge into.
func TestUploadFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "job.yaml")
	os.WriteFile(file, []byte("meetingUrl: \"demo:\"\nrecord: true\nupload:\n  url: s3://rec/a/\n  region: eu-west-1\n  keepLocal: true\n"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want *config.Upload
		err  string
	}{
		{"none", []string{"--room", "demo:", "--record"}, nil, ""},
		{"all flags", []string{"--room", "demo:", "--record", "--upload", "s3://rec/x/", "--upload-endpoint", "http://127.0.0.1:7070",
			"--upload-region", "us-east-1", "--upload-path-style", "--upload-backup", "s3://spare/x/", "--keep-local"},
			&config.Upload{UploadTarget: config.UploadTarget{URL: "s3://rec/x/", Endpoint: "http://127.0.0.1:7070", Region: "us-east-1", PathStyle: true},
				Backup: &config.UploadTarget{URL: "s3://spare/x/"}, KeepLocal: true}, ""},
		{"over the file", []string{"--config", file, "--upload-backup", "s3://spare/a/"},
			&config.Upload{UploadTarget: config.UploadTarget{URL: "s3://rec/a/", Region: "eu-west-1"},
				Backup: &config.UploadTarget{URL: "s3://spare/a/"}, KeepLocal: true}, ""},
		{"no upload", []string{"--room", "demo:", "--record", "--keep-local", "--upload-region", "x"}, nil,
			"--keep-local: there is no upload: give --upload s3://BUCKET/PREFIX/"},
		{"bad url", []string{"--room", "demo:", "--record", "--upload", "s3://x/"}, nil, "upload.url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := newRecordCmd()
			if err := cmd.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
			cf, _ := cmd.Flags().GetString("config")
			job, _, err := jobFromSources(cmd, recordFlags{configFile: cf}, nil)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.want == nil && job.Upload != nil:
				t.Fatalf("upload %+v, want none", job.Upload)
			case tc.want != nil && (job.Upload == nil || job.Upload.UploadTarget != tc.want.UploadTarget || job.Upload.KeepLocal != tc.want.KeepLocal ||
				(job.Upload.Backup == nil) != (tc.want.Backup == nil) || (tc.want.Backup != nil && *job.Upload.Backup != *tc.want.Backup)):
				t.Fatalf("upload %+v, want %+v", job.Upload, tc.want)
			}
		})
	}
}

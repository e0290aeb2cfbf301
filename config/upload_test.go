package config

import (
	"strings"
	"testing"
)

func TestValidateUpload(t *testing.T) {
	up := func(u Upload) func(*Job) { return func(j *Job) { j.Upload = &u } }
	tgt := func(url, endpoint string, pathStyle bool) UploadTarget {
		return UploadTarget{URL: url, Endpoint: endpoint, PathStyle: pathStyle}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Job)
		want   []string // substrings of the error; nil means valid
	}{
		{"aws", up(Upload{UploadTarget: UploadTarget{URL: "s3://recordings/standup/", Region: "eu-west-1"}}), nil},
		{"no prefix", up(Upload{UploadTarget: tgt("s3://recordings", "", false)}), nil},
		{"local", up(Upload{UploadTarget: tgt("s3://rec/a", "http://127.0.0.1:7070", true)}), nil},
		{"backup", up(Upload{UploadTarget: tgt("s3://rec/a/", "http://127.0.0.1:7070", true), Backup: &UploadTarget{URL: "s3://spare/a/"}}), nil},
		{"no url", up(Upload{}), []string{"upload.url: no URL", "s3://BUCKET/PREFIX/"}},
		{"http url", up(Upload{UploadTarget: tgt("https://rec.s3.amazonaws.com/a", "", false)}), []string{"upload.url", "not an s3:// URL"}},
		{"no bucket", up(Upload{UploadTarget: tgt("s3:///prefix/", "", false)}), []string{"upload.url", "no bucket"}},
		{"bad bucket", up(Upload{UploadTarget: tgt("s3://Rec_1/", "", false)}), []string{"upload.url", "lowercase letters"}},
		{"short bucket", up(Upload{UploadTarget: tgt("s3://ab/", "", false)}), []string{"upload.url", "3 to 63"}},
		{"credentials", up(Upload{UploadTarget: tgt("s3://AKIAXXXX:SECRETKEY@rec/", "", false)}), []string{"upload.url", "credentials come from the AWS environment"}},
		{"endpoint", up(Upload{UploadTarget: tgt("s3://rec/", "127.0.0.1:7070", true)}), []string{"upload.endpoint", "not an http:// or https:// URL"}},
		{"endpoint credentials", up(Upload{UploadTarget: tgt("s3://rec/", "http://AKIA:SECRETKEY@127.0.0.1:7070", true)}), []string{"upload.endpoint", "credentials"}},
		{"ip needs path style", up(Upload{UploadTarget: tgt("s3://rec/", "http://127.0.0.1:7070", false)}), []string{"upload.pathStyle", "--upload-path-style"}},
		{"region", up(Upload{UploadTarget: UploadTarget{URL: "s3://rec/", Region: "EU West"}}), []string{"upload.region", "us-east-1"}},
		{"backup no url", up(Upload{UploadTarget: tgt("s3://rec/", "", false), Backup: &UploadTarget{}}), []string{"upload.backup.url: no URL"}},
		{"backup same", up(Upload{UploadTarget: tgt("s3://rec/a/", "", false), Backup: &UploadTarget{URL: "s3://rec/a/"}}), []string{"upload.backup.url", "the first target itself"}},
		{"nothing to upload", func(j *Job) {
			j.Record, j.RTMPURLs = false, []string{"rtmp://a/live/k"}
			j.Upload = &Upload{UploadTarget: tgt("s3://rec/", "", false)}
		}, []string{"upload: nothing to upload", "record", "hlsRecord", "thumbnails"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := valid()
			tc.mutate(&j)
			err := j.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want error with %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "SECRETKEY") {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
}

// The backup inherits the first target's service unless it names its own.
func TestResolvedBackup(t *testing.T) {
	u := Upload{UploadTarget: UploadTarget{URL: "s3://rec/", Endpoint: "http://127.0.0.1:7070", Region: "r1", PathStyle: true}}
	if u.ResolvedBackup() != nil {
		t.Fatal("a backup without one")
	}
	u.Backup = &UploadTarget{URL: "s3://spare/"}
	if b := *u.ResolvedBackup(); b != (UploadTarget{URL: "s3://spare/", Endpoint: "http://127.0.0.1:7070", Region: "r1", PathStyle: true}) {
		t.Fatalf("inherited %+v", b)
	}
	u.Backup = &UploadTarget{URL: "s3://spare/", Endpoint: "https://s3.example.com"}
	if b := *u.ResolvedBackup(); b != (UploadTarget{URL: "s3://spare/", Endpoint: "https://s3.example.com"}) {
		t.Fatalf("own service %+v", b)
	}
}

// The upload object decodes from JSON and YAML with the contract's names,
// and a misspelt field in it is refused.
func TestDecodeUpload(t *testing.T) {
	want := Upload{UploadTarget: UploadTarget{URL: "s3://rec/a/", Endpoint: "http://127.0.0.1:7070", Region: "us-east-1", PathStyle: true},
		Backup: &UploadTarget{URL: "s3://spare/a/"}, KeepLocal: true}
	for _, tc := range []struct {
		f   Format
		doc string
	}{
		{JSON, `{"upload": {"url": "s3://rec/a/", "endpoint": "http://127.0.0.1:7070", "region": "us-east-1", "pathStyle": true, "backup": {"url": "s3://spare/a/"}, "keepLocal": true}}`},
		{YAML, "upload:\n  url: s3://rec/a/\n  endpoint: http://127.0.0.1:7070\n  region: us-east-1\n  pathStyle: true\n  backup:\n    url: s3://spare/a/\n  keepLocal: true\n"},
	} {
		var j Job
		if err := Decode([]byte(tc.doc), tc.f, &j); err != nil {
			t.Fatalf("%s: %v", tc.f, err)
		}
		if j.Upload == nil || j.Upload.UploadTarget != want.UploadTarget || *j.Upload.Backup != *want.Backup || !j.Upload.KeepLocal {
			t.Fatalf("%s: decoded %+v", tc.f, j.Upload)
		}
	}
	var j Job
	err := Decode([]byte(`{"upload": {"url": "s3://rec/", "pathstyle": true, "bucket": "x"}}`), JSON, &j)
	if err == nil || !strings.Contains(err.Error(), "upload") || !strings.Contains(err.Error(), "bucket") {
		t.Fatalf("unknown field: %v", err)
	}
	err = Decode([]byte("upload:\n  url: s3://rec/\n  bucket: x\n"), YAML, &j)
	if err == nil || !strings.Contains(err.Error(), "bucket") {
		t.Fatalf("unknown YAML field: %v", err)
	}
}

package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Upload sends the job's recordings to S3-compatible object storage while
// the job runs (roomcast's extension): the archive as it is written, the HLS
// recording segment by segment, the thumbnails. Credentials are never
// part of it: they come from the AWS conventions (AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, the shared config files and AWS_PROFILE, or an
// IAM role).
type Upload struct {
	UploadTarget `yaml:",inline"`
	// Backup takes over an output whose upload keeps failing on the first
	// target. Its endpoint, region and pathStyle default to the first
	// target's when it gives no endpoint of its own (another bucket of the
	// same service); with an endpoint, they are its own.
	Backup *UploadTarget `json:"backup,omitempty" yaml:"backup,omitempty"`
	// KeepLocal keeps each local file after its upload was verified; by
	// default it is deleted then (and always kept when the upload failed).
	KeepLocal bool `json:"keepLocal,omitempty" yaml:"keepLocal,omitempty"`
}

// UploadTarget is one bucket and prefix, and how to reach its service.
type UploadTarget struct {
	// URL is s3://BUCKET/PREFIX/; object keys are PREFIX + the file's path in
	// the job's folder (recording.mp4, hls/index.m3u8, thumbnails/latest.jpg).
	URL string `json:"url" yaml:"url"`
	// Endpoint is an S3-compatible service's URL; empty for AWS S3.
	Endpoint string `json:"endpoint,omitempty" yaml:"endpoint,omitempty"`
	// Region signs the requests; empty takes the AWS configuration's
	// (AWS_REGION, the profile), else us-east-1.
	Region string `json:"region,omitempty" yaml:"region,omitempty"`
	// PathStyle puts the bucket in the URL's path rather than its host name,
	// as an endpoint on an IP address needs.
	PathStyle bool `json:"pathStyle,omitempty" yaml:"pathStyle,omitempty"`
}

// ResolvedBackup is the backup target with what it inherits filled in; nil
// without a backup.
func (u *Upload) ResolvedBackup() *UploadTarget {
	if u == nil || u.Backup == nil {
		return nil
	}
	b := *u.Backup
	if b.Endpoint == "" {
		b.Endpoint, b.PathStyle = u.Endpoint, u.PathStyle || b.PathStyle
		if b.Region == "" {
			b.Region = u.Region
		}
	}
	return &b
}

// ParseS3URL splits s3://BUCKET/PREFIX into the bucket and a key prefix that
// ends in "/" (or is empty).
func ParseS3URL(s string) (bucket, prefix string, err error) {
	const want = "want s3://BUCKET/PREFIX/, e.g. s3://recordings/standup/"
	if s == "" {
		return "", "", fmt.Errorf("no URL (%s)", want)
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" {
		return "", "", fmt.Errorf("%q is not an s3:// URL (%s)", s, want)
	}
	if u.User != nil {
		return "", "", fmt.Errorf("the URL has credentials in it; give s3://BUCKET/PREFIX/ alone: credentials come from the AWS environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), a profile (AWS_PROFILE) or an IAM role")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", "", fmt.Errorf("%q has a query or fragment (%s)", s, want)
	}
	if err := checkBucket(u.Host); err != nil {
		return "", "", fmt.Errorf("%q: %w", s, err)
	}
	prefix = strings.TrimPrefix(u.Path, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	if strings.Contains(prefix, "//") {
		return "", "", fmt.Errorf("%q: the prefix has an empty path segment (\"//\")", s)
	}
	return u.Host, prefix, nil
}

// checkBucket applies S3's bucket naming rules.
func checkBucket(b string) error {
	if b == "" {
		return fmt.Errorf("no bucket (want s3://BUCKET/PREFIX/)")
	}
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket %q must be 3 to 63 characters", b)
	}
	for i, c := range []byte(b) {
		ok := 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || (c == '.' || c == '-') && i > 0 && i < len(b)-1
		if !ok {
			return fmt.Errorf("bucket %q may hold only lowercase letters, digits, '.' and '-', and must start and end with a letter or digit", b)
		}
	}
	return nil
}

// validate reports the target's problems, each naming its field under
// field (upload, upload.backup).
func (t *UploadTarget) validate(field string, add func(string, ...any)) {
	if _, _, err := ParseS3URL(t.URL); err != nil {
		add("%s.url: %v", field, err)
	}
	if t.Endpoint != "" {
		u, err := url.Parse(t.Endpoint)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			add("%s.endpoint: %q is not an http:// or https:// URL with a host, e.g. http://127.0.0.1:7070", field, t.Endpoint)
		case u.User != nil:
			add("%s.endpoint: the URL has credentials in it; credentials come from the AWS environment, a profile or an IAM role", field)
		case u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "":
			add("%s.endpoint: %q has a path, query or fragment; give the service's scheme, host and port alone", field, t.Endpoint)
		case !t.PathStyle && net.ParseIP(u.Hostname()) != nil:
			add("%s.pathStyle: the endpoint %s is an IP address, which only path-style addressing reaches: set pathStyle: true (--upload-path-style)", field, t.Endpoint)
		}
	}
	for _, c := range t.Region {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') || len(t.Region) > 32 {
			add("%s.region: %q is not a region name (lowercase letters, digits and '-', e.g. us-east-1)", field, t.Region)
			break
		}
	}
}

// Validate checks the upload alone, as part of job j (for what there is to
// upload); Job.Validate includes it.
func (u *Upload) Validate(j *Job) error {
	var p []string
	u.validate(j, func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) })
	if len(p) > 0 {
		return &Error{Problems: p}
	}
	return nil
}

// validate reports the upload's problems; j is the job, for what there is
// to upload.
func (u *Upload) validate(j *Job, add func(string, ...any)) {
	u.UploadTarget.validate("upload", add)
	if b := u.ResolvedBackup(); b != nil {
		b.validate("upload.backup", add)
		if b.URL == u.URL && b.Endpoint == u.Endpoint {
			add("upload.backup.url: %q is the first target itself; give another bucket or service", b.URL)
		}
	}
	if !j.Record && !j.HLSRecord && j.Thumbnails == 0 {
		add("upload: nothing to upload: it uploads the recording (record), the HLS recording (hlsRecord) and the thumbnails (thumbnails); set one of them")
	}
}

// UnmarshalYAML refuses a field it does not know, as the job document's top
// level does: a misspelt pathStyle must not be ignored.
func (u *Upload) UnmarshalYAML(n *yaml.Node) error {
	if err := knownKeys(n, "url", "endpoint", "region", "pathStyle", "backup", "keepLocal"); err != nil {
		return err
	}
	// Not a conversion to a plain Upload: that would keep UploadTarget's
	// UnmarshalYAML, promoted from the embedded field.
	var v struct {
		URL       string        `yaml:"url"`
		Endpoint  string        `yaml:"endpoint"`
		Region    string        `yaml:"region"`
		PathStyle bool          `yaml:"pathStyle"`
		Backup    *UploadTarget `yaml:"backup"`
		KeepLocal bool          `yaml:"keepLocal"`
	}
	if err := n.Decode(&v); err != nil {
		return err
	}
	*u = Upload{UploadTarget: UploadTarget{URL: v.URL, Endpoint: v.Endpoint, Region: v.Region, PathStyle: v.PathStyle},
		Backup: v.Backup, KeepLocal: v.KeepLocal}
	return nil
}

// UnmarshalYAML refuses a field it does not know.
func (t *UploadTarget) UnmarshalYAML(n *yaml.Node) error {
	if err := knownKeys(n, "url", "endpoint", "region", "pathStyle"); err != nil {
		return err
	}
	type plain UploadTarget
	return n.Decode((*plain)(t))
}

func knownKeys(n *yaml.Node, known ...string) error {
	if n.Kind != yaml.MappingNode {
		return nil // Decode says what is wrong with it
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; !slices.Contains(known, k) {
			return fmt.Errorf("line %d: unknown field %q (known: %s)", n.Content[i].Line, k, strings.Join(known, ", "))
		}
	}
	return nil
}

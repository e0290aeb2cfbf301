package upload

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Target is where objects go: a bucket, a key prefix, and how to reach the
// service.
type Target struct {
	Bucket string
	// Prefix starts every key; empty or ending in "/".
	Prefix string
	// Endpoint is the service's URL (http://127.0.0.1:7070); empty for AWS.
	Endpoint string
	// Region signs the requests; empty takes the AWS configuration's, and
	// us-east-1 when that has none.
	Region string
	// PathStyle addresses the bucket in the path, not the host name: what a
	// service on an IP address (or most S3-compatible servers) needs.
	PathStyle bool
}

// ParseURL splits s3://BUCKET/PREFIX into a bucket and a key prefix that
// ends in "/" (or is empty).
func ParseURL(s string) (bucket, prefix string, err error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", "", fmt.Errorf("%q is not a URL (want s3://BUCKET/PREFIX/)", s)
	}
	if u.Scheme != "s3" {
		return "", "", fmt.Errorf("%q is not an s3:// URL (want s3://BUCKET/PREFIX/)", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("%q has credentials, a query or a fragment: give only s3://BUCKET/PREFIX/ (credentials come from the AWS environment, profiles or IAM roles)", s)
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

// checkBucket applies S3's bucket naming rules: 3 to 63 lowercase letters,
// digits, '.' and '-', starting and ending with a letter or digit.
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

// CheckEndpoint checks an endpoint URL: http or https, a host, nothing else
// that would carry credentials.
func CheckEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL with a host", s)
	}
	if u.User != nil {
		return fmt.Errorf("%q has credentials in it; credentials come from the AWS environment, profiles or IAM roles", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q has a query or fragment", s)
	}
	return nil
}

// Location is an object's s3:// URL.
func (t Target) Location(key string) string { return "s3://" + t.Bucket + "/" + key }

// String names the target without the key: s3://bucket/prefix.
func (t Target) String() string { return "s3://" + t.Bucket + "/" + t.Prefix }

// defaultRegion is what a request is signed with when neither the target
// nor the AWS configuration names a region, as S3-compatible servers expect.
const defaultRegion = "us-east-1"

// LoadAWS reads the AWS configuration as the SDK's conventions find it:
// the environment, the shared config and credentials files (AWS_PROFILE),
// and the instance's or container's IAM role.
func LoadAWS(ctx context.Context) (aws.Config, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return cfg, fmt.Errorf("loading the AWS configuration: %w", err)
	}
	return cfg, nil
}

// NewClient makes a client of the target from an AWS configuration.
//
// The SDK's own retries are off: the uploader retries every operation
// itself, with its own backoff and the move to a backup, and reports each
// failure in the state as it happens. Checksums are sent and checked only
// where S3 requires them: a multipart upload created without a checksum
// algorithm must complete with part numbers and ETags alone (servers as
// strict as AWS refuse part checksums it did not ask for), and the uploader
// checks every ETag against the MD5 of what it sent instead.
func NewClient(cfg aws.Config, t Target) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		switch {
		case t.Region != "":
			o.Region = t.Region
		case o.Region == "":
			o.Region = defaultRegion
		}
		if t.Endpoint != "" {
			o.BaseEndpoint = aws.String(t.Endpoint)
		}
		o.UsePathStyle = t.PathStyle
		o.RetryMaxAttempts = 1
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
}

package upload

import (
	"context"
	"fmt"

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
// algorithm must complete with part numbers and ETags alone, where the
// SDK's default would add CRC32s the upload was not created with; the
// uploader sends Content-MD5 and checks every ETag against the MD5 of what
// it sent instead.
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

package upload

import (
	"errors"
	"net"
	"strings"

	"github.com/aws/smithy-go"
)

// permanentCodes are S3 error codes that no retry will cure: the request is
// refused for who sent it or where it went, not for how the network did.
var permanentCodes = map[string]bool{
	"AccessDenied":                 true,
	"AllAccessDisabled":            true,
	"InvalidAccessKeyId":           true,
	"SignatureDoesNotMatch":        true,
	"NoSuchBucket":                 true,
	"InvalidBucketName":            true,
	"AuthorizationHeaderMalformed": true,
	"InvalidRegion":                true,
	"PermanentRedirect":            true,
	"AccountProblem":               true,
	"ExpiredToken":                 true,
	"InvalidToken":                 true,
}

// permanent reports whether err is an S3 refusal that retrying cannot fix.
func permanent(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && permanentCodes[ae.ErrorCode()]
}

// noSuchUpload reports that the multipart upload is gone (aborted by a
// lifecycle rule or by hand): the file starts over.
func noSuchUpload(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "NoSuchUpload"
}

// redactor removes the credentials' strings from error text. The SDK's
// errors do not carry them, and servers should not echo them, but an
// error reaches the job's state, logs and webhooks, where a secret must
// never be, whatever a server sends back.
type redactor struct{ secrets []string }

func (r redactor) text(s string) string {
	for _, v := range r.secrets {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, "****")
		}
	}
	return s
}

// err returns err's text redacted, as a new error: its chain is dropped,
// since a wrapped cause could still print a secret.
func (r redactor) err(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(r.text(err.Error()))
}

// s3Error is an SDK error said shortly: the operation, S3's code and
// message with a hint at the fix, or the network's own error, without the
// request ids and retry counts around them. It unwraps to the SDK's error.
type s3Error struct{ err error }

func sdkErr(err error) error {
	if err == nil {
		return nil
	}
	return &s3Error{err}
}

func (e *s3Error) Unwrap() error { return e.err }

func (e *s3Error) Error() string {
	op := ""
	var oe *smithy.OperationError
	if errors.As(e.err, &oe) {
		op = oe.OperationName + ": "
	}
	var ae smithy.APIError
	if errors.As(e.err, &ae) {
		msg := op + ae.ErrorCode()
		if m := ae.ErrorMessage(); m != "" {
			msg += ": " + strings.TrimSuffix(m, ".")
		}
		return msg + hints[ae.ErrorCode()]
	}
	var ne *net.OpError
	if errors.As(e.err, &ne) {
		return op + ne.Error()
	}
	return e.err.Error()
}

// hints say what to fix for the refusals a configuration causes.
var hints = map[string]string{
	"InvalidAccessKeyId":           " (check the AWS credentials: AWS_ACCESS_KEY_ID, the profile, or the IAM role)",
	"SignatureDoesNotMatch":        " (check the AWS credentials: AWS_SECRET_ACCESS_KEY, the profile, or the IAM role)",
	"AccessDenied":                 " (the credentials may not write to this bucket and prefix)",
	"NoSuchBucket":                 " (create the bucket, or fix the bucket in upload.url)",
	"AuthorizationHeaderMalformed": " (check upload.region)",
	"PermanentRedirect":            " (check upload.region and upload.endpoint)",
}

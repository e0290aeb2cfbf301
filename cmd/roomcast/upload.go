package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/muxer/upload"
)

// addUploadFlags adds the upload flags that record and start share.
func addUploadFlags(fl *pflag.FlagSet) {
	fl.String("upload", "", "upload the recording, HLS recording and thumbnails to s3://BUCKET/PREFIX/ while the job runs (credentials: the AWS environment, AWS_PROFILE or an IAM role)")
	fl.String("upload-endpoint", "", "an S3-compatible service's URL, e.g. http://127.0.0.1:7070 (default AWS S3)")
	fl.String("upload-region", "", "the bucket's region (default the AWS configuration's, else us-east-1)")
	fl.Bool("upload-path-style", false, "path-style bucket addressing, as an endpoint on an IP address needs")
	fl.String("upload-backup", "", "a second s3:// URL on the same service that takes over an upload that keeps failing")
	fl.Bool("keep-local", false, "keep each local file after its upload was verified (default: delete it then)")
}

// uploadFromFlags merges the upload flags into the job's upload (from a
// config file or none).
func uploadFromFlags(fl *pflag.FlagSet, j *config.Job) error {
	str := func(name string) (string, bool) {
		if !fl.Changed(name) {
			return "", false
		}
		v, _ := fl.GetString(name)
		return v, true
	}
	if v, ok := str("upload"); ok {
		if j.Upload == nil {
			j.Upload = &config.Upload{}
		}
		j.Upload.URL = v
	}
	u := j.Upload
	var problems []string
	for _, name := range []string{"upload-endpoint", "upload-region", "upload-path-style", "upload-backup", "keep-local"} {
		if fl.Changed(name) && u == nil {
			problems = append(problems, fmt.Sprintf("--%s: there is no upload: give --upload s3://BUCKET/PREFIX/ (or upload in --config)", name))
		}
	}
	if len(problems) > 0 {
		return &config.Error{Problems: problems}
	}
	if u == nil {
		return nil
	}
	if v, ok := str("upload-endpoint"); ok {
		u.Endpoint = v
	}
	if v, ok := str("upload-region"); ok {
		u.Region = v
	}
	if fl.Changed("upload-path-style") {
		u.PathStyle, _ = fl.GetBool("upload-path-style")
	}
	if fl.Changed("keep-local") {
		u.KeepLocal, _ = fl.GetBool("keep-local")
	}
	if v, ok := str("upload-backup"); ok {
		if u.Backup == nil {
			u.Backup = &config.UploadTarget{}
		}
		u.Backup.URL = v
	}
	return nil
}

// newUploadRecoverCmd completes the archive upload a crashed job left open.
func newUploadRecoverCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "upload-recover s3://BUCKET/KEY",
		Short: "Complete the archive upload that a crashed job left open",
		Long: `A job that uploads its recording keeps it in the bucket as a multipart
upload while it runs, with the bytes after its last part in small tail
objects beside it (KEY.tail.OFFSET). After a crash (of the process, the
machine or its disk) this completes that upload with its tails, so the
object holds the recording up to the last fragment that reached the bucket,
and verifies it. A job that starts again at the same key does the same by
itself.`,
		Example: `  roomcast upload-recover s3://recordings/standup/recording.mp4
  roomcast upload-recover s3://rec/job1/recording.mp4 --upload-endpoint http://127.0.0.1:7070 --upload-path-style`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fl := cmd.Flags()
			t := config.UploadTarget{URL: args[0]}
			t.Endpoint, _ = fl.GetString("upload-endpoint")
			t.Region, _ = fl.GetString("upload-region")
			t.PathStyle, _ = fl.GetBool("upload-path-style")
			j := config.Job{Record: true, Upload: &config.Upload{UploadTarget: t}}
			var ce *config.Error
			if err := j.Upload.Validate(&j); errors.As(err, &ce) {
				return &exitError{exitUsage, err}
			}
			bucket, key, _ := config.ParseS3URL(args[0])
			if key == "" {
				return usage("the URL names no object: give s3://BUCKET/KEY, e.g. s3://recordings/standup/recording.mp4")
			}
			key = key[:len(key)-1] // ParseS3URL gives a prefix, with a "/"
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Minute)
			defer cancel()
			cfg, err := upload.LoadAWS(ctx)
			if err != nil {
				return err
			}
			r, err := upload.Recover(ctx, cfg, upload.Target{Bucket: bucket, Endpoint: t.Endpoint, Region: t.Region, PathStyle: t.PathStyle}, key)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "recovered %s: %d bytes in %d parts (%d from tails)\n", r.Location, r.Size, r.Parts, r.TailBytes)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.String("upload-endpoint", "", "an S3-compatible service's URL (default AWS S3)")
	fl.String("upload-region", "", "the bucket's region")
	fl.Bool("upload-path-style", false, "path-style bucket addressing")
	return cmd
}

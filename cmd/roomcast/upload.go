package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/muxer/hls"
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
itself.

Given the HLS recording's playlist (KEY ending in .m3u8), it finishes the
playlist the crashed job left in the bucket, as roomcast does to one left on
disk: a VOD playlist with #EXT-X-ENDLIST, naming only the segments the
bucket holds.`,
		Example: `  roomcast upload-recover s3://recordings/standup/recording.mp4
  roomcast upload-recover s3://rec/job1/recording.mp4 --upload-endpoint http://127.0.0.1:7070 --upload-path-style
  roomcast upload-recover s3://recordings/standup/hls/index.m3u8`,
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
			target := upload.Target{Bucket: bucket, Endpoint: t.Endpoint, Region: t.Region, PathStyle: t.PathStyle}
			if path.Ext(key) == ".m3u8" {
				n, err := finishPlaylist(ctx, upload.NewClient(cfg, target), bucket, key)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "finished %s: a VOD playlist of %d segments\n", target.Location(key), n)
				return nil
			}
			r, err := upload.Recover(ctx, cfg, target, key)
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

// finishPlaylist rewrites the bucket's HLS playlist at key as a finished
// VOD playlist of the segments the bucket holds; it returns their number.
func finishPlaylist(ctx context.Context, c *s3.Client, bucket, key string) (int, error) {
	loc := "s3://" + bucket + "/" + key
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", loc, err)
	}
	b, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", loc, err)
	}
	dir := path.Dir(key) + "/"
	have := map[string]bool{}
	pg := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(dir)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return 0, fmt.Errorf("listing s3://%s/%s: %w", bucket, dir, err)
		}
		for _, o := range page.Contents {
			if aws.ToInt64(o.Size) > 0 {
				have[strings.TrimPrefix(aws.ToString(o.Key), dir)] = true
			}
		}
	}
	n := 0
	text, err := hls.FinalizePlaylistText(string(b), func(uri string) bool {
		if have[uri] {
			n++
		}
		return have[uri]
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", loc, err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: strings.NewReader(text), ContentType: aws.String("application/vnd.apple.mpegurl")}); err != nil {
		return 0, fmt.Errorf("writing %s: %w", loc, err)
	}
	return n, nil
}

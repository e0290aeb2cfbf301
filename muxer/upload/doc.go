// Package upload owns a job's uploads to S3-compatible object storage: the
// archive (recording.mp4) as one multipart upload that grows while the job
// runs, the HLS recording segment by segment with its playlist after each,
// and the thumbnails. One goroutine per uploaded output owns its state and
// talks to the network; the media path never waits for it, since what it
// uploads is read back from the files the sinks already wrote. It completes
// and verifies every object when the job ends, moves to a backup bucket
// when the first one keeps failing, and can recover the multipart upload of
// a job that crashed (Recover).
//
// Credentials come only from the AWS conventions (environment, shared
// config and profiles, IAM roles) and never appear in its state or errors.
package upload

// Package config holds a job's configuration, after the job contract
// (meetingUrl, rtmpUrls, record, hls, hlsRecord, resolution) plus roomcast's
// extensions, and the worker's own settings (Worker: output folder, HTTP
// address, HLS variant, CA file, x264 threads, logging), and validates both.
// It merges defaults, a YAML or JSON file (Decode, LoadFile), ROOMCAST_*
// environment variables and command-line flags, in that order. Every error
// names the field (or, for a worker setting, the flag), the value and what
// is allowed, as an *Error the CLI maps to exit status 2.
//
// Files: job.go (Job, its defaults and Validate), worker.go (Worker),
// values.go (resolution, duration and bitrate values), meeting.go (the
// meetingUrl and RTMP URL forms), decode.go (job files), env.go (ROOMCAST_*
// variables), error.go (Error).
package config

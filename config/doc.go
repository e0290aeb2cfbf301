// Package config holds a job's configuration, after the job contract
// (meetingUrl, rtmpUrls, record, hls, hlsRecord, resolution) plus roomcast's
// extensions, and validates it. It merges defaults, a YAML or JSON file,
// ROOMCAST_* environment variables and command-line flags, in that order.
// Every validation error names the field, the value and what is allowed.
package config

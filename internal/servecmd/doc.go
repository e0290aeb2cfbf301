// Package servecmd is the `serve` command: the job service's flags, its
// store, runner, API and webhooks, wired and run until a signal. It imports
// no FFmpeg, so that roomcast-serve, which runs it, never loads FFmpeg's
// libraries (about 70 MiB of an idle process): each job runs in a child
// process of the roomcast binary.
package servecmd

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/worker"
	"github.com/roomcast/roomcast/worker/api"
)

// clientFlags are the flags every client command shares.
type clientFlags struct {
	server, output, caFile string
}

func (f *clientFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.server, "server", "", "the roomcast service, http://HOST:PORT or https://HOST[:PORT] (default $ROOMCAST_SERVER)")
	cmd.Flags().StringVar(&f.caFile, "ca-file", "", "trust the CA certificates in this PEM file too, for a serve --tls-cert a private CA signed (default $ROOMCAST_CA_FILE)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "table", "table or json")
}

func (f *clientFlags) client() (*api.Client, error) {
	if f.output != "table" && f.output != "json" {
		return nil, usage("--output %q: table or json", f.output)
	}
	server := f.server
	if server == "" {
		server = os.Getenv("ROOMCAST_SERVER")
	}
	caFlag, caFile := "--ca-file", f.caFile
	if caFile == "" {
		caFlag, caFile = "ROOMCAST_CA_FILE", os.Getenv("ROOMCAST_CA_FILE")
	}
	hc, err := api.HTTPClient(caFile)
	if err != nil {
		return nil, usage("%s: %v", caFlag, err)
	}
	c, err := api.NewClient(server, os.Getenv("ROOMCAST_TOKEN"), hc)
	if err != nil {
		return nil, usage("%v", err)
	}
	return c, nil
}

// clientError gives a service's refusal an exit status: 2 for what the
// caller got wrong, 1 for the rest.
func clientError(err error) error {
	var p *api.Problem
	if errors.As(err, &p) {
		code := exitFailed
		if p.Status == 401 || p.Status == 404 || p.Status == 409 || p.Status == 413 || p.Status == 422 {
			code = exitUsage
		}
		msg := p.Code + ": " + p.Message
		for _, fp := range p.Fields {
			if !strings.Contains(msg, fp.Message) {
				msg += "\n  " + fp.Field + ": " + fp.Message
			}
		}
		return &exitError{code: code, err: errors.New(msg)}
	}
	return err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newStartCmd() *cobra.Command {
	var cf clientFlags
	var configFile, key string
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Start a job on a roomcast service; prints its id",
		Example: `  ROOMCAST_SERVER=http://127.0.0.1:8080 ROOMCAST_TOKEN=s3cret \
    roomcast start --room demo: --record --rtmp rtmp://127.0.0.1/live/k1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			var j config.Job
			if configFile != "" {
				if err := config.LoadFile(configFile, &j); err != nil {
					return usage("%v", err)
				}
			}
			fl := cmd.Flags()
			if fl.Changed("room") {
				j.MeetingURL, _ = fl.GetString("room")
			}
			if fl.Changed("record") {
				j.Record, _ = fl.GetBool("record")
			}
			if fl.Changed("hls") {
				j.HLS, _ = fl.GetBool("hls")
			}
			if fl.Changed("hls-record") {
				j.HLSRecord, _ = fl.GetBool("hls-record")
			}
			if fl.Changed("tracks") {
				j.Tracks, _ = fl.GetBool("tracks")
			}
			if fl.Changed("audio-only") {
				j.AudioOnly, _ = fl.GetBool("audio-only")
			}
			if fl.Changed("rtmp") {
				j.RTMPURLs, _ = fl.GetStringArray("rtmp")
			}
			if fl.Changed("id") {
				j.ID, _ = fl.GetString("id")
			}
			if fl.Changed("layout") {
				s, _ := fl.GetString("layout")
				j.Layout = config.Layout(s)
			}
			if fl.Changed("layout-file") {
				s, _ := fl.GetString("layout-file")
				l, err := layoutFromFile(s)
				if err != nil {
					return usage("--layout-file: %v", err)
				}
				j.Layout = l
			}
			if fl.Changed("fps") {
				j.FPS, _ = fl.GetInt("fps")
			}
			if fl.Changed("resolution") {
				s, _ := fl.GetString("resolution")
				r, err := config.ParseResolution(s)
				if err != nil {
					return usage("--resolution: %v", err)
				}
				j.Resolution = r
			}
			if fl.Changed("thumbnails") {
				s, _ := fl.GetString("thumbnails")
				d, err := config.ParseDuration(s)
				if err != nil {
					return usage("--thumbnails: %v", err)
				}
				j.Thumbnails = d
			}
			if fl.Changed("duration") {
				s, _ := fl.GetString("duration")
				d, err := config.ParseDuration(s)
				if err != nil {
					return usage("--duration: %v", err)
				}
				j.MaxDuration = d
			}
			if err := uploadFromFlags(fl, &j); err != nil {
				return usage("%v", err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 60*time.Second)
			defer cancel()
			s, err := c.Start(ctx, j, key)
			if err != nil {
				return clientError(err)
			}
			if cf.output == "json" {
				return printJSON(cmd.OutOrStdout(), s)
			}
			fmt.Fprintln(cmd.OutOrStdout(), s.ID)
			return nil
		},
	}
	cf.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&configFile, "config", "", "job config file (YAML or JSON)")
	fl.String("room", "", "the room (meetingUrl)")
	fl.Bool("record", false, "write the archival recording")
	fl.Bool("hls", false, "serve live HLS (at the state's hlsStreaming.url)")
	fl.Bool("hls-record", false, "write an HLS recording")
	fl.StringArray("rtmp", nil, "stream to this RTMP(S) URL (repeat up to 3 times)")
	fl.String("id", "", "job id (default: the service picks one)")
	fl.String("layout", "", "a layout preset: grid, speaker, single, screenshare or pip")
	fl.String("layout-file", "", "a layout document, JSON or YAML (docs/layouts.md)")
	fl.Int("fps", 0, "output frame rate")
	fl.String("resolution", "", "output size WxH")
	fl.String("duration", "", "maximum duration, e.g. 30m")
	fl.String("thumbnails", "", "a JPEG of the composite this often, e.g. 10s")
	fl.Bool("tracks", false, "also record each track to tracks/, with the manifest tracks/room.yaml")
	fl.Bool("audio-only", false, "mix the audio only: recording.m4a, audio-only RTMP and HLS")
	addUploadFlags(fl)
	fl.StringVar(&key, "idempotency-key", "", "the same key within 24 h returns the same job")
	return cmd
}

func newStopCmd() *cobra.Command {
	var cf clientFlags
	var wait bool
	cmd := &cobra.Command{
		Use:   "stop JOB_ID",
		Short: "Stop a job on a roomcast service",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			s, err := c.Stop(cmd.Context(), args[0], wait)
			if err != nil {
				return clientError(err)
			}
			if cf.output == "json" {
				return printJSON(cmd.OutOrStdout(), s)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", s.ID, s.State)
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().BoolVar(&wait, "wait", true, "return once every output is finalized")
	return cmd
}

func newStatusCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "status JOB_ID",
		Short: "Show a job's state",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			s, err := c.Job(cmd.Context(), args[0])
			if err != nil {
				return clientError(err)
			}
			if cf.output == "json" {
				return printJSON(cmd.OutOrStdout(), s)
			}
			printState(cmd.OutOrStdout(), s)
			return nil
		},
	}
	cf.add(cmd)
	return cmd
}

func newListCmd() *cobra.Command {
	var cf clientFlags
	var state, room string
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List jobs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			p, err := c.Jobs(cmd.Context(), api.ListFilter{State: worker.Phase(state), MeetingURL: room, Limit: limit})
			if err != nil {
				return clientError(err)
			}
			if cf.output == "json" {
				return printJSON(cmd.OutOrStdout(), p)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tROOM\tSTARTED\tOUTPUTS")
			for _, s := range p.Jobs {
				started := "-"
				if s.StartedAt != nil {
					started = s.StartedAt.Local().Format("2006-01-02 15:04:05")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, s.State, s.Room, started, outputsSummary(s))
			}
			return tw.Flush()
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVar(&state, "state", "", "only jobs in this state")
	cmd.Flags().StringVar(&room, "room", "", "only jobs of this room (meetingUrl)")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many")
	return cmd
}

func newWatchCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "watch JOB_ID",
		Short: "Show a job's state changes live until it ends",
		Long: `Prints each state change of the job as it happens, with the time since the
job started and the state of every output. Exits when the job ends: 0 if it
stopped as asked, 1 if it failed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var final *worker.State
			werr := c.Watch(ctx, args[0], 0, func(ev api.Event) bool {
				var s worker.State
				if json.Unmarshal(ev.Data, &s) != nil {
					return true
				}
				if cf.output == "json" {
					_ = json.NewEncoder(cmd.OutOrStdout()).Encode(ev)
				} else {
					since := "-"
					if s.StartedAt != nil {
						since = ev.Time.Sub(*s.StartedAt).Truncate(100 * time.Millisecond).String()
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%-8s %-28s %-9s %s\n", since, ev.Type, s.State, outputsSummary(s))
				}
				if s.State == worker.Stopped || s.State == worker.Failed {
					final = &s
					return false
				}
				return true
			})
			if werr != nil && ctx.Err() == nil {
				return clientError(werr)
			}
			if final == nil {
				return nil // interrupted
			}
			if final.State == worker.Failed {
				msg := final.Reason
				if final.Error != nil {
					msg = final.Error.Error()
				}
				return &exitError{code: exitFailed, err: fmt.Errorf("job %s failed: %s", final.ID, msg)}
			}
			return nil
		},
	}
	cf.add(cmd)
	return cmd
}

// outputsSummary is one line of every output's state.
func outputsSummary(s worker.State) string {
	var parts []string
	onOff := func(name string, running bool, e *worker.Error, asked bool) {
		if !asked {
			return
		}
		st := "off"
		if running {
			st = "running"
		}
		if e != nil {
			st = "error " + e.Code
		}
		parts = append(parts, name+"="+st)
	}
	onOff("recording", s.Recording.Running, s.Recording.Error, s.Recording.Path != "" || s.Recording.Running || s.Recording.Error != nil)
	for i, o := range s.RTMPStreaming.Outputs {
		onOff(fmt.Sprintf("rtmp%d", i+1), o.Running, o.Error, true)
	}
	onOff("hls", s.HLSStreaming.Running, s.HLSStreaming.Error, s.HLSStreaming.URL != nil || s.HLSStreaming.Running)
	onOff("hlsRecording", s.HLSRecording.Running, s.HLSRecording.Error, s.HLSRecording.Path != nil || s.HLSRecording.Running)
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func printState(w io.Writer, s worker.State) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\n", s.ID)
	fmt.Fprintf(tw, "state\t%s\n", s.State)
	fmt.Fprintf(tw, "room\t%s\n", s.Room)
	if s.StartedAt != nil {
		fmt.Fprintf(tw, "started\t%s\n", s.StartedAt.Local().Format(time.RFC3339))
	}
	if s.StoppedAt != nil {
		fmt.Fprintf(tw, "stopped\t%s\n", s.StoppedAt.Local().Format(time.RFC3339))
	}
	if s.Reason != "" {
		fmt.Fprintf(tw, "reason\t%s\n", s.Reason)
	}
	if s.Error != nil {
		fmt.Fprintf(tw, "error\t%s\n", s.Error.Error())
	}
	fmt.Fprintf(tw, "outputs\t%s\n", outputsSummary(s))
	if s.Recording.Path != "" {
		fmt.Fprintf(tw, "recording\t%s (%d bytes)\n", s.Recording.Path, s.Recording.Bytes)
	}
	for i, o := range s.RTMPStreaming.Outputs {
		e := ""
		if o.Error != nil {
			e = "  " + o.Error.Error()
		}
		fmt.Fprintf(tw, "rtmp%d\t%s running=%v retries=%d bytes=%d%s\n", i+1, o.URL, o.Running, o.Retries, o.Bytes, e)
	}
	uploads := []struct {
		name string
		u    *worker.Upload
	}{{"recording", s.Recording.Upload}, {"hlsRecording", s.HLSRecording.Upload}}
	if s.Thumbnails != nil {
		uploads = append(uploads, struct {
			name string
			u    *worker.Upload
		}{"thumbnails", s.Thumbnails.Upload})
	}
	for _, up := range uploads {
		if u := up.u; u != nil {
			loc, e := "-", ""
			if u.Location != nil {
				loc = *u.Location
			}
			if u.Error != nil {
				e = "  " + u.Error.Error()
			}
			fmt.Fprintf(tw, "upload %s\t%s running=%v verified=%v backup=%v bytes=%d%s\n", up.name, loc, u.Running, u.Verified, u.Backup, u.Bytes, e)
		}
	}
	fmt.Fprintf(tw, "peers\t%d\n", s.Peers)
	fmt.Fprintf(tw, "elapsed\t%.1f s, %d frames (%d late)\n", s.Stats.Elapsed, s.Stats.Frames, s.Stats.LateFrames)
	_ = tw.Flush()
}

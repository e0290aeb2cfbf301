package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/roomcast/roomcast/internal/analyze"
)

func newAnalyzeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "analyze",
		Short: "Measure recordings",
		Args:  usageArgs(cobra.NoArgs),
	}
	cmd.AddCommand(newAnalyzeSyncCmd())
	return cmd
}

func newAnalyzeSyncCmd() *cobra.Command {
	var (
		opts   analyze.SyncOptions
		grid   string
		pairs  bool
		asJSON bool
		check  bool
	)
	cmd := &cobra.Command{
		Use:   "sync RECORDING",
		Short: "Measure per-peer A/V offset and drift from flash/beep markers",
		Long: `Finds where and when the picture flashes (a luma step in a peer's tile) and
when each tone beeps, pairs each flash with its peer's beep, and reports per
peer the A/V offset (beep minus flash: positive when the audio is late; mean
and largest) and the drift (least-squares slope of the offset, in ms per
hour, with its standard error).

Regions are found where flashes occur unless --grid is given; tones are
found in the audio's spectrum unless --tones is given. The test rooms beep
every 1.0 s at 1 kHz for one peer, every 1.3 s at 2 kHz for another, and so
on, each with its tile flashing at the same instants.

Goals: |offset| <= 20 ms, |drift| < 1 frame per hour. A short clip cannot
resolve the drift goal; the report then says "unresolved".

Exit status: 0 (with --check: only when every goal is met); 1 with --check
when a goal is missed or no peer is found; 2 for bad usage or an unreadable
file.`,
		Example: `  roomcast analyze sync out/show/recording.mp4
  roomcast analyze sync out/show/recording.mp4 --tones 1000,2000 --grid 2x1 --pairs`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if grid != "" {
				var err error
				if opts.Cols, opts.Rows, err = analyze.ParseGrid(grid); err != nil {
					return &exitError{code: exitUsage, err: fmt.Errorf("--grid: %w", err)}
				}
			}
			rep, err := analyze.AnalyzeSync(cmd.Context(), args[0], opts)
			if err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("analyze sync: %w", err)}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else if err := rep.WriteText(out, pairs); err != nil {
				return err
			}
			if check {
				if err := syncGoalsMet(rep); err != nil {
					return &exitError{code: exitFailed, err: fmt.Errorf("analyze sync: %w", err)}
				}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.Float64SliceVar(&opts.Tones, "tones", nil, "beep frequencies in Hz, e.g. 1000,2000 (default: detected)")
	fl.StringVar(&grid, "grid", "", "fixed tile grid COLSxROWS, e.g. 2x1 (default: regions found where flashes occur)")
	fl.Float64Var(&opts.FlashStep, "flash-step", analyze.DefaultFlashStep, "luma rise (0..255) between frames that counts as a flash")
	fl.BoolVar(&pairs, "pairs", false, "list every flash/beep pair")
	fl.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fl.BoolVar(&check, "check", false, "exit 1 unless every peer meets the offset and drift goals")
	cmd.SetFlagErrorFunc(usageFlagError)
	return cmd
}

// syncGoalsMet returns why the report misses a goal, or nil. A drift the clip
// is too short to resolve is not a miss.
func syncGoalsMet(rep *analyze.SyncReport) error {
	if len(rep.Peers) == 0 {
		return errors.New("no peer found: no region flashes in step with a tone")
	}
	for i := range rep.Peers {
		p := &rep.Peers[i]
		if !p.OffsetOK(rep.OffsetGoalMs) {
			return fmt.Errorf("%s: offset %+.1f ms exceeds %.0f ms", p.Name, p.MaxOffsetMs, rep.OffsetGoalMs)
		}
		if p.DriftVerdict(rep.DriftGoalMsPerHour) == "FAIL" {
			return fmt.Errorf("%s: drift %+.0f ms/h exceeds %.1f ms/h", p.Name, p.DriftMsPerHour, rep.DriftGoalMsPerHour)
		}
	}
	return nil
}

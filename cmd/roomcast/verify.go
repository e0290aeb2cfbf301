package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/roomcast/roomcast/internal/analyze"
)

func newVerifyCmd() *cobra.Command {
	var (
		expectPath string
		update     bool
		asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "verify RECORDING --expect FILE",
		Short: "Check a recording against an expectation file",
		Long: `Measures a recording (streams, duration, loudness and silences, what regions of
the picture show, A/V sync of the flash/beep markers) and checks it against
an expectation file, printing a table of checks with the measured values.

With --update, measures a recording known to be good and writes FILE from
it, keeping FILE's layout checks (re-measured) if it exists.

The expectation format is documented in testdata/expect/README.md.

Exit status: 0 when every check passed; 1 when a check failed; 2 for bad
usage or a file that could not be read.`,
		Example: `  roomcast verify out/show/recording.mp4 --expect testdata/expect/demo.yaml
  roomcast verify out/show/recording.mp4 --expect new.yaml --update`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if expectPath == "" {
				return &exitError{code: exitUsage, err: errors.New("verify: --expect FILE is required")}
			}
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			opts := analyze.VerifyOptions{BaseDir: filepath.Dir(expectPath)}
			if update {
				prev, err := analyze.LoadExpect(expectPath)
				if errors.Is(err, fs.ErrNotExist) {
					prev, err = nil, nil
				}
				if err != nil {
					return &exitError{code: exitUsage, err: err}
				}
				exp, rep, err := analyze.Update(ctx, args[0], prev, opts)
				if err != nil {
					return &exitError{code: exitUsage, err: fmt.Errorf("verify --update: %w", err)}
				}
				b, err := exp.Marshal()
				if err != nil {
					return fmt.Errorf("verify --update: %w", err)
				}
				if err := writeFileAtomic(expectPath, b); err != nil {
					return &exitError{code: exitUsage, err: fmt.Errorf("verify --update: %w", err)}
				}
				if err := printReport(out, rep, asJSON); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", expectPath)
				return nil
			}
			exp, err := analyze.LoadExpect(expectPath)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			rep, err := analyze.Verify(ctx, args[0], exp, opts)
			if err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("verify: %w", err)}
			}
			if err := printReport(out, rep, asJSON); err != nil {
				return err
			}
			if failed := len(rep.Failed()); failed > 0 {
				return &exitError{code: exitFailed, err: fmt.Errorf("verify: %d of %d checks failed", failed, len(rep.Checks))}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&expectPath, "expect", "", "the expectation file (YAML)")
	fl.BoolVar(&update, "update", false, "write the expectation file from this (good) recording instead of checking it")
	fl.BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.SetFlagErrorFunc(usageFlagError)
	return cmd
}

func printReport(w interface{ Write([]byte) (int, error) }, rep *analyze.Report, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			*analyze.Report
			OK bool `json:"ok"`
		}{rep, rep.OK()})
	}
	return rep.WriteTable(w)
}

// writeFileAtomic replaces path only once the new content is complete, so an
// interrupted --update never leaves half a file in testdata.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// usageArgs marks argument errors as usage errors (exit status 2).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("%s: %w", cmd.Name(), err)}
		}
		return nil
	}
}

func usageFlagError(cmd *cobra.Command, err error) error {
	return &exitError{code: exitUsage, err: fmt.Errorf("%s: %w", cmd.Name(), err)}
}

package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/roomcast/roomcast/compositor/layout"
)

func newLayoutsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "layouts",
		Short: "List the layout presets",
		Long: `Lists the layout presets, each a layout document (docs/layouts.md) shipped
with roomcast. "roomcast layouts show NAME" prints one, to start a document of
your own from.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
			for _, name := range layout.PresetNames() {
				d, err := layout.Preset(name)
				if err != nil {
					return err
				}
				fmt.Fprintf(tw, "%s\t%s\n", name, d.Description)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(newLayoutsShowCmd())
	return cmd
}

func newLayoutsShowCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "show NAME",
		Short:   "Print a preset as a layout document",
		Example: "  roomcast layouts show speaker > studio.json\n  roomcast layouts show grid -o yaml",
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "json" && output != "yaml" {
				return usageFlagError(cmd, fmt.Errorf("-o %q: use json or yaml", output))
			}
			d, err := layout.Preset(args[0])
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			var out []byte
			if output == "yaml" {
				out, err = d.YAML()
			} else {
				out, err = d.JSON()
			}
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "json", "document syntax: json or yaml")
	return cmd
}

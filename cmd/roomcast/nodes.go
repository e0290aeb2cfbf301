package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newNodesCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "List the service's nodes: capacity, load, jobs, last heartbeat",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			nodes, err := c.Nodes(cmd.Context())
			if err != nil {
				return clientError(err)
			}
			if cf.output == "json" {
				return printJSON(cmd.OutOrStdout(), map[string]any{"nodes": nodes})
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NODE\tCAPACITY\tUSED\tFREE\tJOBS\tDRAINING\tHEARTBEAT")
			for _, n := range nodes {
				name := n.Name
				if name == "" {
					name = "(alone)"
				}
				fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%d\t%v\t%s ago\n", name, n.Capacity, n.Used, n.Free, n.Jobs, n.Draining,
					time.Since(n.Heartbeat).Round(100*time.Millisecond))
			}
			return tw.Flush()
		},
	}
	cf.add(cmd)
	return cmd
}

func newDrainCmd() *cobra.Command {
	var cf clientFlags
	var migrate bool
	cmd := &cobra.Command{
		Use:   "drain NODE",
		Short: "Make a node take no new jobs; its jobs run to their end, or move with --migrate",
		Long: `Makes NODE take no new jobs. Its running jobs run to their end, or with
--migrate continue on other nodes of the fleet, each in a new part
(recording.part2.mp4, …), as after a failover. A service that runs alone
(no --nats) is drained as NODE "-".`,
		Example: `  roomcast drain rec-2
  roomcast drain rec-2 --migrate`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			node := args[0]
			if node == "-" {
				node = ""
			}
			n, err := c.Drain(cmd.Context(), node, migrate)
			if err != nil {
				return clientError(err)
			}
			if cf.output == "json" {
				return printJSON(cmd.OutOrStdout(), n)
			}
			what := "its jobs run to their end"
			if migrate {
				what = "its jobs move to other nodes"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is draining: it takes no new jobs, and %s (%d running now)\n", args[0], what, n.Jobs)
			return nil
		},
	}
	cmd.Flags().BoolVar(&migrate, "migrate", false, "move the node's jobs to other nodes instead of letting them finish there")
	cf.add(cmd)
	return cmd
}

package main

import "github.com/spf13/cobra"

// extraCommands are the commands beyond record.
func extraCommands() []*cobra.Command {
	return []*cobra.Command{newVerifyCmd(), newAnalyzeCmd(), newPublishCmd(),
		newServeCmd(), newJobChildCmd(),
		newStartCmd(), newStopCmd(), newStatusCmd(), newListCmd(), newWatchCmd(),
		newNodesCmd(), newDrainCmd(),
		newPreviewCmd(), newLayoutsCmd(), newUploadRecoverCmd()}
}

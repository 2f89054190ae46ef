// Command ximagepipeline runs the image pipeline: `serve` for the HTTP API
// with in-process workers, `worker` for workers only, `migrate` to prepare
// the database, and `process` to run the processing on local files.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:           "ximagepipeline",
		Short:         "Asynchronous image upload pipeline: WebP variants, BlurHash, metadata stripped",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCommand(), workerCommand(), migrateCommand(), processCommand(),
		uploadCommand(), statusCommand(), mediaCommand(), configCommand())
	stopTracing, err := startTracing(context.Background())
	if err == nil {
		err = root.Execute()
		err = errors.Join(err, stopTracing(context.Background()))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ximagepipeline:", err)
		var ec exitCodeError
		if errors.As(err, &ec) {
			os.Exit(ec.code)
		}
		os.Exit(exitError)
	}
}

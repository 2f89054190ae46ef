package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/ximagepipeline/ximagepipeline"
)

func processCommand() *cobra.Command {
	var (
		o          options
		sourceType string
		repeat     int
		threads    int
		outDir     string
	)
	cmd := &cobra.Command{
		Use:   "process --source-type NAME [--repeat N] [--threads N] [--out DIR] FILE...",
		Short: "Process local files exactly as a worker does, printing each result and the images per second",
		Long: `Process runs the worker's processing code on local files, without queue or storage:
auto-orientation, metadata removal, the source type's variants, BlurHash and
the metadata-free original when the source type keeps it. One JSON line per image, then a
summary line with images per second. --threads N processes N images at once, each
with one libvips thread.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if err := o.load(cmd.Flags()); err != nil {
				return err
			}
			return process(cmd.Context(), cmd.OutOrStdout(), o.config(), sourceType, files, repeat, max(threads, 1), outDir)
		},
	}
	o.addFlags(cmd.Flags(), false)
	cmd.Flags().StringVar(&sourceType, "source-type", "gallery", "source type whose variants to make")
	cmd.Flags().IntVar(&repeat, "repeat", 1, "process every file this many times (for benchmarks)")
	cmd.Flags().IntVar(&threads, "threads", 1, "images processed at once")
	cmd.Flags().StringVar(&outDir, "out", "", "write the outputs to DIR/FILE/NAME.EXT")
	return cmd
}

// processLine is what process prints for an image.
type processLine struct {
	File        string            `json:"file"`
	Width       int               `json:"width"`
	Height      int               `json:"height"`
	AspectRatio string            `json:"aspectRatio"`
	Format      string            `json:"format"`
	BlurHash    string            `json:"blurhash"`
	Bytes       map[string]int    `json:"bytes"`
	Sizes       map[string][2]int `json:"sizes"`
}

func process(ctx context.Context, stdout io.Writer, cfg ximagepipeline.Config, sourceType string, files []string, repeat, threads int, outDir string) error {
	srcs := make([][]byte, len(files))
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		srcs[i] = b
	}
	// Warm up once (libvips start-up) outside the timing.
	if _, err := ximagepipeline.ProcessImage(ctx, cfg, sourceType, srcs[0]); err != nil {
		return fmt.Errorf("%s: %w", files[0], err)
	}

	type task struct{ round, i int }
	tasks := make(chan task)
	var (
		mu       sync.Mutex
		firstErr error
		done     int
		wg       sync.WaitGroup
		enc      = json.NewEncoder(stdout)
		bar      = newProgress(len(files) * repeat)
	)
	start := time.Now()
	for range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range tasks {
				res, err := ximagepipeline.ProcessImage(ctx, cfg, sourceType, srcs[t.i])
				mu.Lock()
				done++
				bar.set(done)
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", files[t.i], err)
				}
				if err == nil && t.round == 0 {
					bar.clear()
					line := processLine{
						File: filepath.Base(files[t.i]), Width: res.Width, Height: res.Height, AspectRatio: res.AspectRatio,
						Format: res.Format, BlurHash: res.BlurHash, Bytes: map[string]int{}, Sizes: map[string][2]int{},
					}
					for _, o := range res.Outputs {
						line.Bytes[o.Name+"."+o.Ext] = len(o.Data) // the name writeOutputs gives the file
						line.Sizes[o.Name+"."+o.Ext] = [2]int{o.Width, o.Height}
					}
					enc.Encode(line)
					if outDir != "" && firstErr == nil {
						firstErr = writeOutputs(filepath.Join(outDir, filepath.Base(files[t.i])), res)
					}
				}
				mu.Unlock()
			}
		}()
	}
	for r := range repeat {
		for i := range files {
			tasks <- task{r, i}
		}
	}
	close(tasks)
	wg.Wait()
	bar.clear()
	secs := time.Since(start).Seconds()
	n := len(files) * repeat
	enc.Encode(map[string]any{
		"summary": true, "sourceType": sourceType, "threads": threads, "images": n,
		"seconds": round3(secs), "imagesPerSecond": round3(float64(n) / secs),
	})
	return firstErr
}

func writeOutputs(dir string, res *ximagepipeline.ProcessedImage) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, o := range res.Outputs {
		if err := os.WriteFile(filepath.Join(dir, o.Name+"."+o.Ext), o.Data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

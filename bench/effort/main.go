// Command effort sweeps libwebp's effort (method) and quality on one image
// through the product's own imaging.Process, for the WebP effort decision
// in docs/performance.md. For each effort E and quality Q it times
// Process (median of -n runs, one libvips thread) and writes the variants
// to DIR/eE-qQ/NAME.webp, to be scored by bench/ssim.
//
//	effort -preset gallery -efforts 2,3,4 -qualities 82,84 -n 5 -out DIR IMAGE
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ximagepipeline/ximagepipeline/internal/imaging"
)

var variants = map[string]imaging.Variant{
	"xs":  {Name: "xs", Width: 64, Height: 64, Fit: imaging.FitCover},
	"sm":  {Name: "sm", Width: 150, Height: 150, Fit: imaging.FitCover},
	"md":  {Name: "md", Width: 400, Fit: imaging.FitInside},
	"lg":  {Name: "lg", Width: 800, Fit: imaging.FitInside},
	"xl":  {Name: "xl", Width: 1200, Fit: imaging.FitInside},
	"2xl": {Name: "2xl", Width: 1920, Fit: imaging.FitInside},
}

var presets = map[string][]string{
	"avatar":  {"xs", "sm"},
	"gallery": {"md", "lg", "xl"},
	"hero":    {"lg", "xl", "2xl"},
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		out = append(out, n)
	}
	return out
}

func main() {
	preset := flag.String("preset", "gallery", "avatar, gallery or hero")
	efforts := flag.String("efforts", "2,3,4", "WebP efforts to try")
	qualities := flag.String("qualities", "82", "WebP qualities to try")
	n := flag.Int("n", 5, "timed runs per setting (median)")
	out := flag.String("out", "", "write the variants under this directory")
	flag.Parse()
	src, err := os.ReadFile(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	imaging.Start(imaging.Config{Concurrency: 1})
	var opts imaging.Options
	for _, v := range presets[*preset] {
		opts.Variants = append(opts.Variants, variants[v])
	}
	enc := json.NewEncoder(os.Stdout)
	for _, e := range ints(*efforts) {
		for _, q := range ints(*qualities) {
			opts.WebPEffort, opts.Quality = e, q
			var times []float64
			var res *imaging.Result
			for range *n + 1 { // the first run warms up
				t := time.Now()
				if res, err = imaging.Process(context.Background(), src, opts); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				times = append(times, time.Since(t).Seconds())
			}
			times = times[1:]
			slices.Sort(times)
			bytes := map[string]int{}
			for _, v := range res.Variants {
				bytes[v.Name] = len(v.Data)
				if *out != "" {
					dir := filepath.Join(*out, fmt.Sprintf("e%d-q%d", e, q))
					os.MkdirAll(dir, 0o755)
					if err := os.WriteFile(filepath.Join(dir, v.Name+".webp"), v.Data, 0o644); err != nil {
						fmt.Fprintln(os.Stderr, err)
						os.Exit(1)
					}
				}
			}
			enc.Encode(map[string]any{"preset": *preset, "effort": e, "quality": q,
				"medianSeconds": times[len(times)/2], "bytes": bytes})
		}
	}
}

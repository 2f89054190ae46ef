// Command effort sweeps libwebp's effort (method) and quality on one image
// through the product's own imaging.Processor, for the WebP effort decision
// in docs/performance.md. For each effort E and quality Q it times
// Process (median of -n runs, one libvips thread) on one of the contract's
// source types and writes the variants to DIR/eE-qQ/NAME.webp, to be
// scored by bench/ssim.
//
//	effort -source-type gallery -efforts 2,3,4 -qualities 82,84 -n 5 -out DIR IMAGE
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
	"github.com/ximagepipeline/ximagepipeline/media"
)

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
	name := flag.String("source-type", "gallery", "one of the contract's source types: avatar, gallery, hero...")
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
	st, ok := media.DefaultSourceTypes()[*name]
	if !ok {
		fmt.Fprintln(os.Stderr, "unknown source type", *name)
		os.Exit(2)
	}
	st.StoreOriginal = false // the variants only
	enc := json.NewEncoder(os.Stdout)
	for _, e := range ints(*efforts) {
		p, err := imaging.NewProcessor(imaging.Config{WebPEffort: e})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for _, q := range ints(*qualities) {
			st.Quality = q
			var times []float64
			var res *imaging.Result
			for range *n + 1 { // the first run warms up
				t := time.Now()
				if res, err = p.Process(context.Background(), src, st); err != nil {
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
			enc.Encode(map[string]any{"sourceType": *name, "effort": e, "quality": q,
				"medianSeconds": times[len(times)/2], "bytes": bytes})
		}
	}
}

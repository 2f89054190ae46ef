// Command latency measures the time from an upload's 202 to its job's
// COMPLETE status against a running server, one upload at a time. It
// long-polls the status (?wait=30s answers as soon as the job is final) and,
// should the server answer early, asks again after -poll. It prints one
// JSON line per upload and a summary with the median, min and max.
//
//	latency -url http://127.0.0.1:3000/image-pipeline -type avatar -n 10 FILE
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:3000/image-pipeline", "API base URL (with the prefix)")
	sourceType := flag.String("type", "avatar", "source type")
	n := flag.Int("n", 10, "uploads")
	poll := flag.Duration("poll", 5*time.Millisecond, "pause between status requests")
	flag.Parse()
	data, err := os.ReadFile(flag.Arg(0))
	check(err)
	var ms []float64
	enc := json.NewEncoder(os.Stdout)
	for i := range *n + 1 { // the first one warms up
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		mw.WriteField("sourceType", *sourceType)
		mw.WriteField("sourceId", fmt.Sprintf("bench-%d", i))
		fw, _ := mw.CreateFormFile("file", filepath.Base(flag.Arg(0)))
		fw.Write(data)
		mw.Close()
		resp, err := http.Post(*base+"/upload", mw.FormDataContentType(), &body)
		check(err)
		accepted := time.Now()
		var up struct{ JobID string }
		check(json.NewDecoder(resp.Body).Decode(&up))
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			check(fmt.Errorf("upload: %s", resp.Status))
		}
		for {
			resp, err := http.Get(*base + "/status/" + up.JobID + "?wait=30s")
			check(err)
			var st struct{ Status string }
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			check(json.Unmarshal(b, &st))
			if st.Status == "COMPLETE" {
				break
			}
			if st.Status != "PENDING" && st.Status != "PROCESSING" {
				check(fmt.Errorf("job %s: %s", up.JobID, b))
			}
			if time.Since(accepted) > time.Minute {
				check(fmt.Errorf("job %s: not complete after a minute", up.JobID))
			}
			time.Sleep(*poll)
		}
		d := float64(time.Since(accepted).Microseconds()) / 1000
		if i > 0 {
			ms = append(ms, d)
		}
		enc.Encode(map[string]any{"job": up.JobID, "ms": d, "warmup": i == 0})
	}
	slices.Sort(ms)
	enc.Encode(map[string]any{"summary": true, "uploads": len(ms), "medianMs": (ms[(len(ms)-1)/2] + ms[len(ms)/2]) / 2, "minMs": ms[0], "maxMs": ms[len(ms)-1]})
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "latency:", err)
		os.Exit(1)
	}
}

// Command worker measures a worker's throughput: jobs per second of
// `ximagepipeline worker` at a given concurrency, with its CPU time and
// memory. It starts an API server (`serve --workers=false`) on a fresh data
// directory, uploads -n images of one source type (queued, nothing runs
// them yet), then starts `worker --concurrency C` on the same data and
// waits until every job is COMPLETE. It prints one JSON line: jobs/s from
// the worker's start to the last completion (so the worker's start-up,
// about 0.1 s, is counted), the worker's CPU seconds per job (user+sys),
// and its peak RSS (the high-water mark over all jobs: a worker's steady
// state). The time from a job's 202 to its COMPLETE is bench/latency's.
//
//	worker -bin bin/ximagepipeline -type hero -n 24 -concurrency 2 PHOTO
//
// With -sharp DIR it runs the sharp reference instead, as a Node worker
// would: -concurrency processes of `node DIR/process.mjs --preset TYPE`,
// each with sharp's default threads (the CPU count), sharing the -n images,
// and prints the same line.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("bin", "bin/ximagepipeline", "the ximagepipeline binary")
	sourceType := flag.String("type", "hero", "source type (sharp: preset)")
	n := flag.Int("n", 24, "jobs")
	concurrency := flag.Int("concurrency", 1, "worker concurrency (sharp: processes)")
	sharp := flag.String("sharp", "", "run the sharp reference in this directory instead")
	tmp := flag.String("tmp", "", "directory for the data directory (default: the system's)")
	flag.Parse()
	photo, err := filepath.Abs(flag.Arg(0))
	check(err)
	if *sharp != "" {
		runSharp(*sharp, *sourceType, *n, *concurrency, photo)
		return
	}
	data, err := os.MkdirTemp(*tmp, "worker-bench-")
	check(err)
	defer os.RemoveAll(data)
	port := freePort()
	base := "http://127.0.0.1:" + port + "/image-pipeline"
	api := exec.Command(*bin, "serve", "--workers=false", "--data-dir", data, "--addr", "127.0.0.1:"+port, "--log-level", "error")
	api.Stderr = os.Stderr
	check(api.Start())
	defer func() { api.Process.Signal(syscall.SIGTERM); api.Wait() }()
	waitReady(base)

	src, err := os.ReadFile(photo)
	check(err)
	jobs := make([]string, *n)
	for i := range jobs {
		jobs[i] = upload(base, *sourceType, fmt.Sprintf("bench-%d", i), src)
	}

	w := exec.Command(*bin, "worker", "--data-dir", data, "--concurrency", strconv.Itoa(*concurrency), "--log-level", "error")
	w.Stderr = os.Stderr
	start := time.Now()
	check(w.Start())
	for _, id := range jobs {
		waitComplete(base, id)
	}
	secs := time.Since(start).Seconds()
	rssNow := vmRSS(w.Process.Pid)
	w.Process.Signal(syscall.SIGTERM)
	w.Wait()
	ru := w.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := tv(ru.Utime) + tv(ru.Stime)
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"side": "ours", "type": *sourceType, "concurrency": *concurrency, "jobs": *n,
		"seconds": round(secs, 3), "jobsPerSecond": round(float64(*n)/secs, 3),
		"cpuPerJob": round(cpu/float64(*n), 4), "peakRssMB": ru.Maxrss / 1024, "endRssMB": rssNow,
	})
}

// runSharp runs c sharp reference processes at once over n images.
func runSharp(dir, preset string, n, c int, photo string) {
	start := time.Now()
	var cmds []*exec.Cmd
	for i := range c {
		k := n / c
		if i < n%c {
			k++
		}
		cmd := exec.Command("node", "process.mjs", "--preset", preset, "--threads", strconv.Itoa(runtime.NumCPU()), "--repeat", strconv.Itoa(k), photo)
		cmd.Dir = dir
		cmd.Stderr = os.Stderr
		check(cmd.Start())
		cmds = append(cmds, cmd)
	}
	var cpu float64
	var peak int64
	for _, cmd := range cmds {
		check(cmd.Wait())
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cpu += tv(ru.Utime) + tv(ru.Stime)
		peak = max(peak, ru.Maxrss/1024)
	}
	secs := time.Since(start).Seconds()
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"side": "sharp", "type": preset, "concurrency": c, "jobs": n,
		"seconds": round(secs, 3), "jobsPerSecond": round(float64(n)/secs, 3),
		"cpuPerJob": round(cpu/float64(n), 4), "peakRssMB": peak,
	})
}

func upload(base, sourceType, sourceID string, data []byte) string {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("sourceType", sourceType)
	mw.WriteField("sourceId", sourceID)
	fw, _ := mw.CreateFormFile("file", "photo")
	fw.Write(data)
	mw.Close()
	resp, err := http.Post(base+"/upload", mw.FormDataContentType(), &body)
	check(err)
	defer resp.Body.Close()
	var up struct{ JobID string }
	check(json.NewDecoder(resp.Body).Decode(&up))
	if resp.StatusCode != http.StatusAccepted {
		check(fmt.Errorf("upload: %s", resp.Status))
	}
	return up.JobID
}

func waitComplete(base, id string) {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		// Not a long poll: across processes on SQLite, the API server
		// learns of a completion up to a second late, which would count.
		resp, err := http.Get(base + "/status/" + id)
		check(err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var st struct{ Status string }
		check(json.Unmarshal(b, &st))
		switch st.Status {
		case "COMPLETE":
			return
		case "PENDING", "PROCESSING":
			time.Sleep(20 * time.Millisecond)
		default:
			check(fmt.Errorf("job %s: %s", id, b))
		}
	}
	check(fmt.Errorf("job %s: not complete after 5 minutes", id))
}

func waitReady(base string) {
	for range 200 {
		if resp, err := http.Get(base[:len(base)-len("/image-pipeline")] + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	check(fmt.Errorf("server did not start"))
}

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// vmRSS is the process's resident memory now, in MB.
func vmRSS(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	var kb int
	for _, line := range bytes.Split(b, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("VmRSS:")) {
			fmt.Sscanf(string(line[6:]), "%d", &kb)
		}
	}
	return kb / 1024
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func round(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker bench:", err)
		os.Exit(1)
	}
}

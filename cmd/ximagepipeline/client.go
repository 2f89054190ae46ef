package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ximagepipeline/ximagepipeline"
)

// Exit codes of the client commands, for scripts.
const (
	exitOK       = 0 // done: uploaded, COMPLETE, deleted
	exitError    = 1 // the request failed, or the server refused it
	exitFailed   = 3 // the job ended FAILED or REJECTED
	exitNotReady = 4 // the job is still PENDING or PROCESSING
)

// exitError carries a command's exit code.
type exitCodeError struct {
	code int
	err  error
}

func (e exitCodeError) Error() string { return e.err.Error() }

// client talks to a running server's HTTP API.
type client struct {
	server string // e.g. http://localhost:3000/image-pipeline
	apiKey string
	http   *http.Client
}

func (c *client) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.server, "server", "http://localhost:3000"+ximagepipeline.DefaultPrefix, "the API's base URL, prefix included (env SERVER)")
	fs.StringVar(&c.apiKey, "api-key", "", "bearer token, when the server requires one (env API_KEY)")
}

func (c *client) load(fs *pflag.FlagSet) {
	for name, dst := range map[string]*string{"server": &c.server, "api-key": &c.apiKey} {
		if !fs.Changed(name) {
			if v, ok := os.LookupEnv(strings.ReplaceAll(strings.ToUpper(name), "-", "_")); ok {
				*dst = v
			}
		}
	}
	c.server = strings.TrimRight(c.server, "/")
	c.http = &http.Client{}
}

// do sends a request and decodes a JSON answer into out (when not nil).
// It returns the status code; an error body becomes the error.
func (c *client) do(ctx context.Context, method, path string, body io.Reader, contentType string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, body)
	if err != nil {
		return 0, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	// A refusal is {error, code}; a FAILED or REJECTED job's status (a 500
	// or 400 too) has its status, and is an answer.
	var apiErr struct {
		Error  string `json:"error"`
		Code   string `json:"code"`
		Status string `json:"status"`
	}
	if resp.StatusCode >= 400 && json.Unmarshal(b, &apiErr) == nil && apiErr.Code != "" && apiErr.Status == "" {
		return resp.StatusCode, fmt.Errorf("%s (%s)", apiErr.Error, apiErr.Code)
	}
	if resp.StatusCode >= 400 && !strings.Contains(path, "/status/") {
		return resp.StatusCode, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("bad answer from server: %w", err)
		}
	}
	return resp.StatusCode, nil
}

func printJSON(v any) {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func uploadCommand() *cobra.Command {
	var (
		c                    client
		sourceType, sourceID string
		wait                 bool
	)
	cmd := &cobra.Command{
		Use:   "upload FILE|URL... --source-type TYPE --source-id ID [--wait]",
		Short: "Upload images to a running server; prints one JSON line per file",
		Long: `Upload sends each file to the server's upload route and prints its job; an
http:// or https:// URL is sent as the upload's url, for the server to fetch.
With --wait it waits for each job to finish and prints its final status.
An upload token (xut_...) may stand in for --api-key.
Exit codes: 0 all accepted (and COMPLETE with --wait), 1 a request failed or was
refused, 3 a job ended FAILED or REJECTED.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			c.load(cmd.Flags())
			code := exitOK
			bar := newProgress(len(files))
			for i, f := range files {
				jobID, err := c.upload(cmd.Context(), f, sourceType, sourceID)
				bar.clear()
				if err != nil {
					fmt.Fprintf(os.Stderr, "%s: %v\n", f, err)
					code = max(code, exitError)
					continue
				}
				if !wait {
					json.NewEncoder(os.Stdout).Encode(map[string]string{"file": f, "jobId": jobID})
				} else {
					body, status, err := c.waitJob(cmd.Context(), jobID, 10*time.Minute)
					if err != nil {
						fmt.Fprintf(os.Stderr, "%s: %v\n", f, err)
						code = max(code, exitError)
						continue
					}
					body["file"] = f
					json.NewEncoder(os.Stdout).Encode(body)
					if status == ximagepipeline.StatusFailed || status == ximagepipeline.StatusRejected {
						code = max(code, exitFailed)
					}
				}
				bar.set(i + 1)
			}
			bar.clear()
			if code != exitOK {
				return exitCodeError{code, errors.New("some uploads did not succeed")}
			}
			return nil
		},
	}
	c.addFlags(cmd.Flags())
	cmd.Flags().StringVar(&sourceType, "source-type", "", "what the images are for: avatar, gallery, ...")
	cmd.Flags().StringVar(&sourceID, "source-id", "", "who owns them: a user id, a post id")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for each job to finish")
	cmd.MarkFlagRequired("source-type")
	cmd.MarkFlagRequired("source-id")
	return cmd
}

// upload streams one file as multipart, never holding it in memory; an
// http(s) URL goes as the upload's url field instead.
func (c *client) upload(ctx context.Context, path, sourceType, sourceID string) (string, error) {
	isURL := strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://")
	var f *os.File
	if !isURL {
		var err error
		if f, err = os.Open(path); err != nil {
			return "", err
		}
		defer f.Close()
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := mw.WriteField("sourceType", sourceType)
		if err == nil {
			err = mw.WriteField("sourceId", sourceID)
		}
		switch {
		case err != nil:
		case isURL:
			err = mw.WriteField("url", path)
		default:
			var part io.Writer
			if part, err = mw.CreateFormFile("file", filepath.Base(path)); err == nil {
				_, err = io.Copy(part, f)
			}
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	var out struct {
		JobID string `json:"jobId"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/upload", pr, mw.FormDataContentType(), &out); err != nil {
		pr.CloseWithError(err)
		return "", err
	}
	return out.JobID, nil
}

// waitJob long-polls a job's status until it is final or d is over; with
// d = 0 it asks once.
func (c *client) waitJob(ctx context.Context, jobID string, d time.Duration) (map[string]any, ximagepipeline.JobStatus, error) {
	deadline := time.Now().Add(d)
	for {
		path := "/status/" + url.PathEscape(jobID)
		if left := time.Until(deadline); left > 0 {
			path += "?wait=" + min(left, 30*time.Second).Round(time.Second).String()
		}
		var body map[string]any
		code, err := c.do(ctx, http.MethodGet, path, nil, "", &body)
		status, _ := body["status"].(string)
		st := ximagepipeline.JobStatus(status)
		switch {
		case err != nil && st == "":
			return nil, "", err // not a job's status: unknown job, server error
		case st.Final() || time.Now().After(deadline):
			return body, st, nil
		case code >= 500:
			time.Sleep(time.Second) // a struggling server gets a pause
		}
	}
}

func statusCommand() *cobra.Command {
	var (
		c    client
		wait time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status JOBID [--wait 30s]",
		Short: "Print a job's status",
		Long: `Status prints the job's status as the API answers it.
Exit codes: 0 COMPLETE, 1 the request failed (unknown job), 3 FAILED or REJECTED,
4 still PENDING or PROCESSING.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c.load(cmd.Flags())
			body, st, err := c.waitJob(cmd.Context(), args[0], wait)
			if err != nil {
				return err
			}
			printJSON(body)
			switch {
			case st == ximagepipeline.StatusComplete:
				return nil
			case st.Final():
				return exitCodeError{exitFailed, fmt.Errorf("job %s", st)}
			}
			return exitCodeError{exitNotReady, fmt.Errorf("job %s", st)}
		},
	}
	c.addFlags(cmd.Flags())
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for the job to finish")
	return cmd
}

func mediaCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "media", Short: "List, show and delete processed media"}
	var (
		c                    client
		sourceType, sourceID string
	)
	list := &cobra.Command{
		Use:   "list --source-type TYPE --source-id ID",
		Short: "List an owner's media, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.load(cmd.Flags())
			var out any
			q := url.Values{"sourceType": {sourceType}, "sourceId": {sourceID}}
			if _, err := c.do(cmd.Context(), http.MethodGet, "/media?"+q.Encode(), nil, "", &out); err != nil {
				return err
			}
			printJSON(out)
			return nil
		},
	}
	list.Flags().StringVar(&sourceType, "source-type", "", "source type")
	list.Flags().StringVar(&sourceID, "source-id", "", "source id")
	get := &cobra.Command{
		Use: "get MEDIAID", Short: "Show one media", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c.load(cmd.Flags())
			var out any
			if _, err := c.do(cmd.Context(), http.MethodGet, "/media/"+url.PathEscape(args[0]), nil, "", &out); err != nil {
				return err
			}
			printJSON(out)
			return nil
		},
	}
	del := &cobra.Command{
		Use: "delete MEDIAID", Short: "Delete a media and all its files", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c.load(cmd.Flags())
			_, err := c.do(cmd.Context(), http.MethodDelete, "/media/"+url.PathEscape(args[0]), nil, "", nil)
			return err
		},
	}
	for _, sub := range []*cobra.Command{list, get, del} {
		c.addFlags(sub.Flags())
		cmd.AddCommand(sub)
	}
	return cmd
}

func configCommand() *cobra.Command {
	var c client
	cmd := &cobra.Command{
		Use: "config", Short: "Print a running server's variants and source types", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.load(cmd.Flags())
			var out any
			if _, err := c.do(cmd.Context(), http.MethodGet, "/config", nil, "", &out); err != nil {
				return err
			}
			printJSON(out)
			return nil
		},
	}
	c.addFlags(cmd.Flags())
	return cmd
}

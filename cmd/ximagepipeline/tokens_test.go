package main

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// TestUploadTokensAndURLIngest runs serve with API keys, a token secret
// from the environment and a fetch allow-list for loopback: an upload key
// mints a token; a client without a key uploads with it, reads its job's
// status and nothing else; an upload gives a url on this machine, which
// the allow-list lets through.
func TestUploadTokensAndURLIngest(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	const key = "uploader-0123456789"
	s := startServer(t, bin, []string{"UPLOAD_TOKEN_SECRET=0123456789abcdef0123456789abcdef"},
		"--data-dir", t.TempDir(), "--api-key", key+":upload,read", "--fetch-allow", "127.0.0.0/8", "--upload-token-lifetime", "2m")
	jpg := testimages.JPEG(testimages.Quadrants(300, 200), 90)

	do := func(method, path, bearer, contentType string, body []byte) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, s.base()+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		raw, _ := io.ReadAll(resp.Body)
		json.Unmarshal(raw, &m)
		return resp.StatusCode, m
	}
	upload := func(bearer string, fields map[string]string, data []byte) (int, map[string]any) {
		t.Helper()
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for k, v := range fields {
			mw.WriteField(k, v)
		}
		if data != nil {
			w, _ := mw.CreateFormFile("file", "a.jpg")
			w.Write(data)
		}
		mw.Close()
		return do("POST", "/upload", bearer, mw.FormDataContentType(), buf.Bytes())
	}

	code, body := do("POST", "/upload-tokens", "", "application/json", []byte(`{"sourceType":"avatar","sourceId":"user-1"}`))
	if code != 401 || body["code"] != "UNAUTHORIZED" {
		t.Errorf("mint without a key: %d %v, want 401 UNAUTHORIZED", code, body)
	}
	code, tok := do("POST", "/upload-tokens", key, "application/json", []byte(`{"sourceType":"avatar","sourceId":"user-1"}`))
	token, _ := tok["token"].(string)
	if code != 201 || token == "" {
		t.Fatalf("mint: %d %v", code, tok)
	}
	code, body = upload(token, nil, jpg)
	jobID, _ := body["jobId"].(string)
	if code != 202 || jobID == "" {
		t.Fatalf("upload with the token: %d %v", code, body)
	}
	code, body = do("GET", "/status/"+jobID+"?wait=30s", token, "", nil)
	if code != 200 || body["status"] != "COMPLETE" {
		t.Errorf("status with the token: %d %v, want 200 COMPLETE", code, body)
	}
	m, _ := body["media"].(map[string]any)
	if m["sourceType"] != "avatar" || m["sourceId"] != "user-1" {
		t.Errorf("media %v, want the token's owner", m)
	}
	code, body = do("GET", "/media?sourceType=avatar&sourceId=user-1", token, "", nil)
	if code != 401 || body["code"] != "UNAUTHORIZED" {
		t.Errorf("media list with a token: %d %v, want 401 UNAUTHORIZED", code, body)
	}
	code, body = upload(token, nil, jpg)
	if code != 403 || body["code"] != "TOKEN_USED" {
		t.Errorf("second upload with the token: %d %v, want 403 TOKEN_USED", code, body)
	}

	img := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(jpg) }))
	defer img.Close()
	code, body = upload(key, map[string]string{"sourceType": "gallery", "sourceId": "u", "url": img.URL + "/a.jpg"}, nil)
	jobID, _ = body["jobId"].(string)
	if code != 202 || jobID == "" {
		t.Fatalf("upload by url: %d %v", code, body)
	}
	if code, body = do("GET", "/status/"+jobID+"?wait=30s", key, "", nil); code != 200 || body["status"] != "COMPLETE" {
		t.Errorf("job of the url upload: %d %v, want 200 COMPLETE", code, body)
	}

	// The upload command: a URL argument is sent as the url, and an upload
	// token stands in for the key (with a file: a token's url is refused).
	_, tok = do("POST", "/upload-tokens", key, "application/json", []byte(`{"sourceType":"avatar","sourceId":"user-2"}`))
	local := filepath.Join(t.TempDir(), "d.jpg")
	if err := os.WriteFile(local, jpg, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ bearer, sourceType, sourceID, arg string }{
		{key, "gallery", "u", img.URL + "/b.jpg"},
		{tok["token"].(string), "avatar", "user-2", local},
	} {
		out, err := exec.Command(bin, "upload", "--server", s.base(), "--api-key", c.bearer,
			"--source-type", c.sourceType, "--source-id", c.sourceID, "--wait", c.arg).CombinedOutput()
		if err != nil || !strings.Contains(string(out), `"status":"COMPLETE"`) {
			t.Errorf("upload %s as %s: %v\n%s", c.arg, c.sourceType, err, out)
		}
	}
}

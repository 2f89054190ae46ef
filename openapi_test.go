package ximagepipeline_test

// The OpenAPI document (openapi.json) is kept true three ways:
//
//   - TestOpenAPI checks the document against the OpenAPI 3.1 schema
//     (libopenapi-validator), its routes against the table Handler
//     registers them from (both ways), its codes against package failure
//     (both ways), and exercises every route, through the standalone
//     server's access checks too, checking each answer as it comes;
//   - every test server of this package records its answers (newEnv), and
//     TestMain checks them all once the tests have run: the status must be
//     documented for the operation, a refusal's code listed for that
//     status, and a JSON body valid against the documented schema.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	xip "github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/failure"
	"github.com/ximagepipeline/ximagepipeline/internal/access"
	"github.com/ximagepipeline/ximagepipeline/internal/pgtest"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// TestMain stops the shared PostgreSQL cluster (internal/pgtest) and
// checks every recorded answer against the OpenAPI document.
func TestMain(m *testing.M) { pgtest.Main(checkedRun{m}) }

type checkedRun struct{ m *testing.M }

func (c checkedRun) Run() int {
	code := c.m.Run()
	spec, err := loadSpec()
	if err != nil {
		fmt.Fprintln(os.Stderr, "openapi.json:", err)
		return 1
	}
	problems, checked := spec.checkAll(answers.all())
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "answer not in openapi.json:", p)
	}
	if len(problems) > 0 {
		return 1
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "openapi.json: %d answers checked\n", checked)
	}
	return code
}

// answers records the answers of every test server of this package.
var answers exchangeLog

// exchange is one request and its answer, as a client saw it.
type exchange struct {
	method, path, query string // path after the prefix, escaped
	reqHeader           http.Header
	status              int
	header              http.Header
	body                []byte // JSON bodies only
}

func (a exchange) String() string {
	return fmt.Sprintf("%s %s -> %d %s", a.method, a.path, a.status, bytes.TrimSpace(a.body))
}

type exchangeLog struct {
	mu   sync.Mutex
	list []exchange
}

func (l *exchangeLog) all() []exchange {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.list)
}

// record wraps a server's handler: every request under prefix is recorded
// with its answer.
func (l *exchangeLog) record(prefix string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, ok := strings.CutPrefix(r.URL.EscapedPath(), prefix)
		if !ok || !strings.HasPrefix(path, "/") {
			h.ServeHTTP(w, r)
			return
		}
		cw := &captureWriter{ResponseWriter: w}
		h.ServeHTTP(cw, r)
		if cw.status == 0 {
			cw.status = http.StatusOK
		}
		l.mu.Lock()
		l.list = append(l.list, exchange{
			method: r.Method, path: path, query: r.URL.RawQuery, reqHeader: r.Header.Clone(),
			status: cw.status, header: w.Header().Clone(), body: cw.body.Bytes(),
		})
		l.mu.Unlock()
	})
}

// captureWriter keeps a response's status and its JSON body (up to 1 MiB).
type captureWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if isJSON(c.Header()) && c.body.Len() < 1<<20 {
		c.body.Write(b)
	}
	return c.ResponseWriter.Write(b)
}

func (c *captureWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (a refused
// upload's body is read after the exchange).
func (c *captureWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func isJSON(h http.Header) bool { return strings.HasPrefix(h.Get("Content-Type"), "application/json") }

// spec is the OpenAPI document, parsed for the checks.
type spec struct {
	doc       map[string]any
	validator validator.Validator
	routes    *http.ServeMux // Handler's routes by pattern, to match requests
}

// docPath is a route's path in the document: net/http's {key...} is
// OpenAPI's {key}.
func docPath(pattern string) string { return strings.ReplaceAll(pattern, "...}", "}") }

func loadSpec() (*spec, error) {
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		return nil, err
	}
	s := &spec{routes: http.NewServeMux()}
	if err := json.Unmarshal(raw, &s.doc); err != nil {
		return nil, err
	}
	d, err := libopenapi.NewDocument(raw)
	if err != nil {
		return nil, err
	}
	v, errs := validator.NewValidator(d)
	if len(errs) > 0 {
		return nil, fmt.Errorf("validator: %v", errs)
	}
	s.validator = v
	for _, p := range xip.RoutePatterns() {
		s.routes.HandleFunc(p, func(http.ResponseWriter, *http.Request) {})
	}
	return s, nil
}

// operation is the document's operation of a route pattern ("POST
// /upload"); nil when it has none.
func (s *spec) operation(pattern string) map[string]any {
	method, path, _ := strings.Cut(pattern, " ")
	paths, _ := s.doc["paths"].(map[string]any)
	item, _ := paths[docPath(path)].(map[string]any)
	op, _ := item[strings.ToLower(method)].(map[string]any)
	return op
}

// resolve follows a local $ref.
func (s *spec) resolve(ref string) map[string]any {
	var node any = s.doc
	for _, seg := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, _ := node.(map[string]any)
		node = m[seg]
	}
	out, _ := node.(map[string]any)
	return out
}

// codesOf collects the codes a schema allows: the enums of its code
// property, through $ref, oneOf, anyOf and allOf.
func (s *spec) codesOf(schema map[string]any) []string {
	if schema == nil {
		return nil
	}
	var out []string
	if props, ok := schema["properties"].(map[string]any); ok {
		if c, ok := props["code"].(map[string]any); ok {
			out = append(out, s.enumOf(c)...)
		}
	}
	if ref, ok := schema["$ref"].(string); ok {
		out = append(out, s.codesOf(s.resolve(ref))...)
	}
	for _, k := range []string{"oneOf", "anyOf", "allOf"} {
		subs, _ := schema[k].([]any)
		for _, sub := range subs {
			m, _ := sub.(map[string]any)
			out = append(out, s.codesOf(m)...)
		}
	}
	return out
}

func (s *spec) enumOf(schema map[string]any) []string {
	if ref, ok := schema["$ref"].(string); ok {
		schema = s.resolve(ref)
	}
	var out []string
	enum, _ := schema["enum"].([]any)
	for _, v := range enum {
		out = append(out, v.(string))
	}
	return out
}

// responseCodes are the codes an operation's response of status lists.
func (s *spec) responseCodes(op map[string]any, status string) []string {
	responses, _ := op["responses"].(map[string]any)
	resp, _ := responses[status].(map[string]any)
	content, _ := resp["content"].(map[string]any)
	js, _ := content["application/json"].(map[string]any)
	schema, _ := js["schema"].(map[string]any)
	return s.codesOf(schema)
}

// route is the pattern of the route that answered a, "" when none did.
func (s *spec) route(a exchange) string {
	req, err := http.NewRequest(a.method, "http://test"+a.path, nil)
	if err != nil {
		return ""
	}
	_, pattern := s.routes.Handler(req)
	return pattern
}

// check reports what is wrong with an answer by the document, "" when
// nothing: its route's operation, its status, its code, its JSON body. An
// answer on no route (net/http's 404 and 405) is none of the document's.
func (s *spec) check(a exchange) string {
	pattern := s.route(a)
	if pattern == "" {
		return ""
	}
	op := s.operation(pattern)
	if op == nil {
		return fmt.Sprintf("%s: the route %s has no operation", a, pattern)
	}
	status := strconv.Itoa(a.status)
	responses, _ := op["responses"].(map[string]any)
	if _, ok := responses[status]; !ok {
		return fmt.Sprintf("%s: status %s not documented for %s", a, status, pattern)
	}
	if !isJSON(a.header) {
		return ""
	}
	var body map[string]any
	if err := json.Unmarshal(a.body, &body); err != nil {
		return fmt.Sprintf("%s: JSON body does not parse: %v", a, err)
	}
	if code, ok := body["code"].(string); ok && !slices.Contains(s.responseCodes(op, status), code) {
		return fmt.Sprintf("%s: code %s not listed for %s %s", a, code, pattern, status)
	}
	// The validator finds the operation under the document's server.
	req, err := http.NewRequest(a.method, "http://test/image-pipeline"+a.path+"?"+a.query, nil)
	if err != nil {
		return fmt.Sprintf("%s: %v", a, err)
	}
	for k, v := range a.reqHeader {
		req.Header[k] = v
	}
	resp := &http.Response{StatusCode: a.status, Header: a.header, Body: io.NopCloser(bytes.NewReader(a.body)), Request: req}
	if ok, errs := s.validator.ValidateHttpResponse(req, resp); !ok {
		var msgs []string
		for _, e := range errs {
			msgs = append(msgs, e.Error())
		}
		return fmt.Sprintf("%s: body does not match the schema: %s", a, strings.Join(msgs, "; "))
	}
	return ""
}

// checkAll checks answers, and returns the problems and how many answers
// were on a route.
func (s *spec) checkAll(list []exchange) (problems []string, checked int) {
	seen := map[string]bool{}
	for _, a := range list {
		if p := s.check(a); p != "" && !seen[p] {
			seen[p] = true
			problems = append(problems, p)
		}
		checked++
	}
	return problems, checked
}

// TestOpenAPI: the document is valid OpenAPI 3.1, served with its prefix
// without a key; it documents exactly Handler's routes and exactly the
// codes of package failure; and every route's answers, exercised here
// through the library handler and the standalone server's access checks,
// are documented.
func TestOpenAPI(t *testing.T) {
	t.Parallel()
	s, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	if s.doc["openapi"] != "3.1.0" {
		t.Errorf("openapi %v, want 3.1.0", s.doc["openapi"])
	}
	if ok, errs := s.validator.ValidateDocument(); !ok {
		for _, e := range errs {
			t.Errorf("openapi.json is not valid OpenAPI 3.1: %v", e)
		}
	}

	// Routes, both ways.
	documented := map[string]bool{}
	for path, item := range s.doc["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			switch method {
			case "get", "post", "put", "delete", "patch", "head", "options":
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	registered := map[string]bool{}
	for _, p := range xip.RoutePatterns() {
		method, path, _ := strings.Cut(p, " ")
		registered[method+" "+docPath(path)] = true
	}
	for r := range registered {
		if !documented[r] {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for r := range documented {
		if !registered[r] {
			t.Errorf("openapi.json documents %s, which Handler does not serve", r)
		}
	}

	// Codes, both ways: the refusals' and the job failures' enums hold
	// exactly failure's codes, and every refusal code is some operation's.
	schemas := s.doc["components"].(map[string]any)["schemas"].(map[string]any)
	refusals := s.enumOf(schemas["ErrorCode"].(map[string]any))
	jobCodes := s.enumOf(schemas["JobFailureCode"].(map[string]any))
	if !slices.Equal(jobCodes, failure.JobCodes()) {
		t.Errorf("JobFailureCode enum %v, want failure.JobCodes() %v", jobCodes, failure.JobCodes())
	}
	union := map[string]bool{}
	for _, c := range append(slices.Clone(refusals), jobCodes...) {
		union[c] = true
	}
	want := failure.Codes()
	if got := slices.Sorted(maps.Keys(union)); !slices.Equal(got, sorted(want)) {
		t.Errorf("codes in openapi.json %v, want failure.Codes() %v", got, sorted(want))
	}
	listed := map[string]bool{}
	for r := range registered {
		op := s.operation(r)
		for status := range op["responses"].(map[string]any) {
			for _, c := range s.responseCodes(op, status) {
				listed[c] = true
				if !slices.Contains(refusals, c) && !slices.Contains(jobCodes, c) {
					t.Errorf("%s %s lists %s, which is not in ErrorCode", r, status, c)
				}
			}
		}
	}
	for _, c := range refusals {
		if !listed[c] {
			t.Errorf("ErrorCode %s is listed by no operation", c)
		}
	}

	exerciseRoutes(t, s)
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

// exerciseRoutes sends every route requests that succeed and some that are
// refused, through a library host (no access checks), the standalone
// server's access checks with keys, and a rate limit; checks each answer
// against the document at once, and that every route was answered.
func exerciseRoutes(t *testing.T, s *spec) {
	e, _ := newDirectEnv(t, func(c *xip.Config) { c.FetchAllow = loopback })
	local := newEnv(t, nil) // local storage, which the files route serves
	var log exchangeLog
	serve := func(p *xip.Pipeline, guard *access.Config) *httptest.Server {
		mux := http.NewServeMux()
		mux.Handle(xip.DefaultPrefix+"/", p.Handler())
		h := http.Handler(mux)
		if guard != nil {
			h = guard.Wrap(xip.DefaultPrefix, h)
		}
		srv := httptest.NewServer(answers.record(xip.DefaultPrefix, log.record(xip.DefaultPrefix, h)))
		t.Cleanup(srv.Close)
		return srv
	}
	keys := &access.Config{Keys: []access.Key{
		{Token: "admin-key-0123456789", Permissions: []access.Permission{access.Upload, access.Read, access.Delete}},
		{Token: "reader-key-012345678", Permissions: []access.Permission{access.Read}},
	}}
	limited := &access.Config{UploadRate: 0.001, UploadBurst: 1}
	lib, guarded, throttled, files := serve(e.p, nil), serve(e.p, keys), serve(e.p, limited), serve(local.p, nil)
	call := func(srv *httptest.Server, method, path, auth, ct string, body []byte) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+xip.DefaultPrefix+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var m map[string]any
		json.Unmarshal(raw, &m)
		return resp.StatusCode, m
	}
	jsonBody := func(v any) []byte { b, _ := json.Marshal(v); return b }
	jpg := testimages.JPEG(testimages.Quadrants(600, 400), 90)
	multipart := func(parts ...part) ([]byte, string) { return form(parts...) }
	st, sid := field("sourceType", "gallery"), field("sourceId", "u")

	// Uploads: accepted, refused by the pipeline, by a token, by the
	// access checks, by the rate limit.
	body, ct := multipart(st, sid, file("a.jpg", jpg))
	code, acc := call(lib, "POST", "/upload", "", ct, body)
	jobID, _ := acc["jobId"].(string)
	if code != 202 {
		t.Fatalf("upload: %d %v", code, acc)
	}
	for _, parts := range [][]part{{st, sid}, {st, file("a.jpg", jpg)}, {st, sid, file("a.svg", testimages.SVG)}, {st, sid, field("url", "http://169.254.169.254/")}} {
		body, ct := multipart(parts...)
		call(lib, "POST", "/upload", "", ct, body)
	}
	call(lib, "POST", "/upload", "xut_garbage", ct, body)
	call(guarded, "POST", "/upload", "", ct, body)
	call(guarded, "POST", "/upload", "reader-key-012345678", ct, body)
	call(throttled, "POST", "/upload", "", ct, body)
	call(throttled, "POST", "/upload", "", ct, body) // 429

	// Tokens: minted (plain and direct), refused; a direct upload
	// completed, and refused.
	call(guarded, "POST", "/upload-tokens", "admin-key-0123456789", "application/json", jsonBody(map[string]any{"sourceType": "gallery", "sourceId": "u"}))
	call(guarded, "POST", "/upload-tokens", "reader-key-012345678", "application/json", jsonBody(map[string]any{"sourceType": "gallery", "sourceId": "u"}))
	call(lib, "POST", "/upload-tokens", "", "application/json", []byte("{"))
	call(lib, "POST", "/upload-tokens", "", "application/json", jsonBody(map[string]any{"sourceType": "nope", "sourceId": "u"}))
	_, tok := call(lib, "POST", "/upload-tokens", "", "application/json", jsonBody(map[string]any{"sourceType": "gallery", "sourceId": "u", "direct": true, "size": len(jpg), "contentType": "image/jpeg"}))
	d := direct{token: tok["token"].(string), jobID: tok["jobId"].(string), putURL: tok["putUrl"].(string), putHeaders: tok["putHeaders"].(map[string]any)}
	call(guarded, "POST", "/uploads/"+d.jobID+"/complete", d.token, "", nil) // 409 through the access checks
	d.put(t, jpg)
	call(lib, "POST", "/uploads/"+d.jobID+"/complete", "", "", nil)
	call(lib, "POST", "/uploads/job_other/complete", d.token, "", nil)
	if code, _ := call(lib, "POST", "/uploads/"+d.jobID+"/complete", d.token, "", nil); code != 202 {
		t.Errorf("complete: %d", code)
	}
	call(lib, "POST", "/uploads/"+d.jobID+"/complete", d.token, "", nil)

	// Status and events: pending or done, with a token, refused.
	call(lib, "GET", "/status/"+jobID, "", "", nil)
	call(lib, "GET", "/status/"+d.jobID+"?wait=30s", d.token, "", nil)
	call(lib, "GET", "/status/"+jobID, d.token, "", nil)
	call(lib, "GET", "/status/"+jobID+"?wait=soon", "", "", nil)
	call(lib, "GET", "/status/job_missing", "", "", nil)
	call(guarded, "GET", "/status/"+jobID, "", "", nil)
	e.waitMedia(jobID)
	call(lib, "GET", "/events/"+jobID, "", "", nil)
	call(lib, "GET", "/events/job_missing", "", "", nil)
	call(guarded, "GET", "/events/"+d.jobID, d.token, "", nil)

	// Media, config and this document.
	_, status := call(lib, "GET", "/status/"+jobID+"?wait=30s", "", "", nil)
	mediaID := status["media"].(map[string]any)["id"].(string)
	call(lib, "GET", "/media?sourceType=gallery&sourceId=u", "", "", nil)
	call(lib, "GET", "/media?sourceType=gallery", "", "", nil)
	call(guarded, "GET", "/media/"+mediaID, "reader-key-012345678", "", nil)
	call(lib, "GET", "/media/med_missing", "", "", nil)
	call(guarded, "DELETE", "/media/"+mediaID, "reader-key-012345678", "", nil)
	call(lib, "DELETE", "/media/"+mediaID, "", "", nil)
	call(lib, "DELETE", "/media/"+mediaID, "", "", nil)
	call(lib, "GET", "/config", "", "", nil)
	call(guarded, "GET", "/config", "", "", nil)
	if code, doc := call(guarded, "GET", "/openapi.json", "", "", nil); code != 200 || doc["openapi"] != "3.1.0" ||
		!jsonEqual(doc["servers"], []map[string]string{{"url": xip.DefaultPrefix, "description": "this server's API"}}) {
		t.Errorf("GET openapi.json without a key: %d, servers %v", code, doc["servers"])
	}

	// A stored file, and one that is not.
	body, ct = multipart(st, sid, file("a.jpg", jpg))
	_, acc = call(files, "POST", "/upload", "", ct, body)
	m := local.waitMedia(acc["jobId"].(string))
	fileURL := m["urls"].(map[string]any)["md"].(string)
	call(files, "GET", strings.TrimPrefix(fileURL, xip.DefaultPrefix), "", "", nil)
	call(files, "GET", "/files/media/nothing.webp", "", "", nil)

	answered := map[string]bool{}
	for _, a := range log.all() {
		if p := s.check(a); p != "" {
			t.Error(p)
		}
		answered[s.route(a)] = true
	}
	for _, p := range xip.RoutePatterns() {
		if !answered[p] {
			t.Errorf("route %s was not exercised", p)
		}
	}
}

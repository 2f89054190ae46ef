package ximagepipeline

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
)

// openAPISpec documents every route of Handler, with its bodies, status
// codes and error codes: OpenAPI 3.1, written by hand, held true by
// TestOpenAPI (every route of the table, every code of package failure,
// every answer the tests see).
//
//go:embed openapi.json
var openAPISpec []byte

// openAPIDocument is the document as served under prefix: its server is
// the prefix, to which its paths are relative.
func openAPIDocument(prefix string) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(openAPISpec, &doc); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	doc["servers"] = []map[string]string{{"url": prefix, "description": "this server's API"}}
	return json.MarshalIndent(doc, "", "  ")
}

// handleOpenAPI serves the OpenAPI document. It needs no key: it tells
// nothing that is not public.
func (p *Pipeline) handleOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(p.openapi)
}

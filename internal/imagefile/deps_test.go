package imagefile

import (
	"os/exec"
	"strings"
	"testing"
)

// The upload path and an API-only server read files through this package
// without libvips: nothing it imports, directly or not, may use cgo but
// the standard library's own (net's resolver, which Go leaves out with
// CGO_ENABLED=0).
func TestNoCgoDependency(t *testing.T) {
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to list the dependencies:", err)
	}
	cmd := exec.Command(goTool, "list", "-deps", "-f", "{{if and .CgoFiles (not .Standard)}}{{.ImportPath}}{{end}}", ".")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if cgo := strings.Fields(string(out)); len(cgo) > 0 {
		t.Errorf("imagefile depends on cgo packages %v", cgo)
	}
}

package apptest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// goList runs go list -f format over patterns from the module root and
// returns one line per package.
func goList(t *testing.T, format string, patterns ...string) []string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", append([]string{"list", "-f", format}, patterns...)...)
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(out)))
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", patterns, err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// TestBinariesLinkNoTestCode: test fixtures live in packages that only tests
// import (pkg/devstack/devstacktest, pkg/apptest), so no binary links the
// testing package; kfake is linked only by cmd/devbroker, which is the
// embedded broker.
func TestBinariesLinkNoTestCode(t *testing.T) {
	for _, line := range goList(t, "{{.ImportPath}} {{join .Deps \" \"}}", "./cmd/...") {
		deps := strings.Fields(line)
		cmd := deps[0]
		for _, dep := range deps[1:] {
			switch {
			case dep == "testing" || strings.HasPrefix(dep, "testing/"):
				t.Errorf("%s links %s: move the code that imports it to a package only tests import", cmd, dep)
			case strings.HasSuffix(dep, "/kfake") && !strings.HasSuffix(cmd, "/cmd/devbroker"):
				t.Errorf("%s links %s; only cmd/devbroker should", cmd, dep)
			}
		}
	}
}

// TestProductImportsNoBench: bench/ builds on pkg/, never the other way
// round, also in tests.
func TestProductImportsNoBench(t *testing.T) {
	for _, line := range goList(t, "{{.ImportPath}} {{join .Imports \" \"}} {{join .TestImports \" \"}} {{join .XTestImports \" \"}}", "./cmd/...", "./pkg/...") {
		imports := strings.Fields(line)
		for _, imp := range imports[1:] {
			if strings.Contains(imp, "/pixel/bench/") {
				t.Errorf("%s imports %s: what pkg/ needs belongs under pkg/", imports[0], imp)
			}
		}
	}
}

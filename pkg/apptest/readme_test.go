package apptest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEDocumentsEveryFlag keeps the README's configuration section honest:
// every flag and environment variable a binary's -help lists must appear there.
func TestREADMEDocumentsEveryFlag(t *testing.T) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(filepath.Dir(strings.TrimSpace(string(out))), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	envRE := regexp.MustCompile(`\[\$([A-Z0-9_]+)\]`)
	flagRE := regexp.MustCompile(`(?m)^  (-[a-z0-9-]+)`)
	for _, cmd := range [][]string{{"collector"}, {"consumer"}, {"devbroker"}, {"devstack"}, {"pixelctl", "migrate"}} {
		help, _ := exec.Command(filepath.Join(binDir, cmd[0]), append(cmd[1:], "-help")...).CombinedOutput()
		envs := envRE.FindAllStringSubmatch(string(help), -1)
		if len(envs) == 0 {
			t.Fatalf("%v -help lists no variables:\n%s", cmd, help)
		}
		for _, m := range envs {
			if !strings.Contains(string(readme), "`"+m[1]+"`") {
				t.Errorf("%v: variable %s is not in README.md", cmd, m[1])
			}
		}
		for _, m := range flagRE.FindAllStringSubmatch(string(help), -1) {
			if !strings.Contains(string(readme), "`"+m[1]) {
				t.Errorf("%v: flag %s is not in README.md", cmd, m[1])
			}
		}
	}
}

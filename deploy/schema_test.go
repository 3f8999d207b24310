package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v4"
)

// The Kubernetes OpenAPI v3 spec comes from this module through the Go
// module proxy (the module cache keeps it: 21 MB once), the files below of
// its api/openapi-spec/v3. The manifests target this version's API.
const (
	kubernetesModule = "k8s.io/kubernetes@v1.37.2"
	kubernetesSpec   = "api/openapi-spec/v3"
)

var kubernetesSpecFiles = []string{
	"api__v1_openapi.json",
	"apis__apps__v1_openapi.json",
	"apis__batch__v1_openapi.json",
	"apis__policy__v1_openapi.json",
	"apis__autoscaling__v2_openapi.json",
}

// operatorGroups are the API groups of the operators' custom resources.
var operatorGroups = map[string]bool{
	"kafka.strimzi.io":               true,
	"clickhouse.altinity.com":        true,
	"clickhouse-keeper.altinity.com": true,
}

// gvk is what picks a document's schema.
type gvk struct{ apiVersion, kind string }

func (g gvk) String() string { return g.apiVersion + " " + g.kind }

// schemaSet holds the schema of every Kubernetes kind the manifests may
// use, from the spec files above, made strict as kubeconform -strict does: an object schema with properties and no additionalProperties (nor
// x-kubernetes-preserve-unknown-fields) refuses unknown fields.
type schemaSet struct {
	mu       sync.Mutex
	compiler *jsonschema.Compiler
	locs     map[gvk]string
	compiled map[gvk]*jsonschema.Schema
}

var (
	schemasOnce sync.Once
	schemas     *schemaSet
	schemasErr  error
)

func loadSchemas(t testing.TB) *schemaSet {
	t.Helper()
	schemasOnce.Do(func() { schemas, schemasErr = newSchemaSet() })
	if schemasErr != nil {
		t.Fatal(schemasErr)
	}
	return schemas
}

func newSchemaSet() (*schemaSet, error) {
	s := &schemaSet{compiler: jsonschema.NewCompiler(), locs: map[gvk]string{}, compiled: map[gvk]*jsonschema.Schema{}}
	dir, err := moduleDir(kubernetesModule)
	if err != nil {
		return nil, err
	}
	for _, name := range kubernetesSpecFiles {
		if err := s.addOpenAPI(filepath.Join(dir, kubernetesSpec, name)); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// moduleDir puts a module into the module cache through the Go module proxy
// (a no-op once it is there) and returns its directory.
func moduleDir(module string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", module)
	cmd.Dir = os.TempDir() // outside any module: go.mod and go.sum stay as they are
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GO111MODULE=on")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr != nil || info.Dir == "" || info.Error != "" {
		return "", fmt.Errorf("cannot download %s for the Kubernetes schemas (check the Go module proxy, GOPROXY): %v %s %s", module, err, info.Error, stderr.String())
	}
	return info.Dir, nil
}

func (s *schemaSet) addOpenAPI(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot read the Kubernetes OpenAPI spec: %w", err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return fmt.Errorf("cannot parse %s: %w", path, err)
	}
	makeStrict(doc)
	url := "file:///kubernetes/" + filepath.Base(path)
	if err := s.compiler.AddResource(url, doc); err != nil {
		return err
	}
	comps, _ := doc.(map[string]any)["components"].(map[string]any)
	defs, _ := comps["schemas"].(map[string]any)
	for name, def := range defs {
		kinds, _ := def.(map[string]any)["x-kubernetes-group-version-kind"].([]any)
		for _, k := range kinds {
			k := k.(map[string]any)
			apiVersion := k["version"].(string)
			if g := k["group"].(string); g != "" {
				apiVersion = g + "/" + apiVersion
			}
			s.locs[gvk{apiVersion, k["kind"].(string)}] = url + "#/components/schemas/" + name
		}
	}
	return nil
}

// makeStrict refuses unknown fields in every object schema that lists its
// properties, as the API server's pruning would silently drop them.
func makeStrict(v any) {
	switch v := v.(type) {
	case map[string]any:
		_, props := v["properties"].(map[string]any)
		_, additional := v["additionalProperties"]
		if props && !additional && v["x-kubernetes-preserve-unknown-fields"] != true {
			v["additionalProperties"] = false
		}
		for _, x := range v {
			makeStrict(x)
		}
	case []any:
		for _, x := range v {
			makeStrict(x)
		}
	}
}

// validate checks one document (a YAML document already decoded) against
// the schema of its apiVersion and kind.
func (s *schemaSet) validate(doc map[string]any) error {
	g := gvk{str(doc["apiVersion"]), str(doc["kind"])}
	s.mu.Lock()
	defer s.mu.Unlock()
	sch, ok := s.compiled[g]
	if !ok {
		loc, known := s.locs[g]
		if !known && operatorGroups[strings.SplitN(g.apiVersion, "/", 2)[0]] {
			// The operators publish their CRDs in their repositories
			// only, which no registry reachable here carries: their
			// resources get the semantic checks of k8s_test.go alone.
			return nil
		}
		if !known {
			return fmt.Errorf("no schema for %s (a kind of another API version)", g)
		}
		var err error
		if sch, err = s.compiler.Compile(loc); err != nil {
			return fmt.Errorf("cannot compile the schema of %s: %w", g, err)
		}
		s.compiled[g] = sch
	}
	v, err := toJSONValue(doc)
	if err != nil {
		return err
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("%s %s: %w", g, str(dig(doc, "metadata", "name")), err)
	}
	return nil
}

// toJSONValue turns a decoded YAML value into what a JSON decoder makes of
// it (json.Number for numbers), the validator's input.
func toJSONValue(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

// decodeAll returns the YAML documents of a file as generic maps (empty
// documents skipped).
func decodeAll(b []byte) ([]map[string]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

// dig walks maps by key; nil when a step is missing.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(v any) string { s, _ := v.(string); return s }

func list(v any) []any { l, _ := v.([]any); return l }

// binaryEnv is, by binary name, the environment variables its flags read,
// from its own -help (the [$NAME] of each flag): the truth, not a copy.
var (
	binaryEnvOnce sync.Once
	binaryEnvs    map[string]map[string]bool
	binaryEnvErr  error
)

// helpArgs are the binaries the manifests run, with the arguments that make
// each print the flags it reads.
var helpArgs = map[string][]string{
	"collector": {"-help"},
	"consumer":  {"-help"},
	"console":   {"-help"},
	"forwarder": {"-help"},
	"pixelctl":  {"migrate", "-help"},
}

var envRef = regexp.MustCompile(`\[\$([A-Z0-9_]+)\]`)

func binaryEnv(t testing.TB) map[string]map[string]bool {
	t.Helper()
	binaryEnvOnce.Do(func() { binaryEnvs, binaryEnvErr = readBinaryEnv() })
	if binaryEnvErr != nil {
		t.Fatal(binaryEnvErr)
	}
	return binaryEnvs
}

func readBinaryEnv() (map[string]map[string]bool, error) {
	bin, err := os.MkdirTemp("", "pixel-deploy-bin")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(bin)
	args := []string{"build", "-o", bin + string(filepath.Separator)}
	for name := range helpArgs {
		args = append(args, "../cmd/"+name)
	}
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("cannot build the binaries: %v\n%s", err, out)
	}
	envs := map[string]map[string]bool{}
	for name, help := range helpArgs {
		cmd := exec.Command(filepath.Join(bin, name), help...)
		cmd.Dir = bin // no run/stack.env here
		out, err := cmd.CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("%s %s: %v\n%s", name, strings.Join(help, " "), err, out)
		}
		envs[name] = map[string]bool{}
		for _, m := range envRef.FindAllStringSubmatch(string(out), -1) {
			envs[name][m[1]] = true
		}
		if len(envs[name]) == 0 {
			return nil, fmt.Errorf("%s -help lists no environment variables:\n%s", name, out)
		}
	}
	return envs, nil
}

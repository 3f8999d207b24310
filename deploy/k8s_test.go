package deploy

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"
)

// The kustomizations: each lists every other YAML file of its directory.
var kustomizations = []string{"k8s", "k8s/operators"}

// kustomization is the part of kustomize's file the manifests use; decoding
// it with unknown fields refused is its check (kustomize publishes no schema
// of it).
type kustomization struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Namespace  string `yaml:"namespace"`
	Labels     []struct {
		Pairs            map[string]string `yaml:"pairs"`
		IncludeSelectors bool              `yaml:"includeSelectors"`
	} `yaml:"labels"`
	Resources []string `yaml:"resources"`
	Images    []struct {
		Name    string `yaml:"name"`
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
	} `yaml:"images"`
}

// manifest is one document of a file, with where it came from.
type manifest struct {
	file string
	doc  map[string]any
}

func (m manifest) String() string {
	return fmt.Sprintf("%s: %s %s", m.file, str(m.doc["kind"]), str(dig(m.doc, "metadata", "name")))
}

// loadManifests reads the kustomizations and every resource they list;
// replace substitutes a file's text (by path under deploy/), for the broken
// cases.
func loadManifests(replace map[string]string) ([]manifest, error) {
	read := func(path string) ([]byte, error) {
		if text, ok := replace[path]; ok {
			return []byte(text), nil
		}
		return os.ReadFile(path)
	}
	var all []manifest
	for _, dir := range kustomizations {
		b, err := read(dir + "/kustomization.yaml")
		if err != nil {
			return nil, err
		}
		var k kustomization
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&k); err != nil {
			return nil, fmt.Errorf("%s/kustomization.yaml: %w", dir, err)
		}
		if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
			return nil, fmt.Errorf("%s/kustomization.yaml: apiVersion %q kind %q", dir, k.APIVersion, k.Kind)
		}
		files, _ := filepath.Glob(dir + "/*.yaml")
		var want []string
		for _, f := range files {
			if base := filepath.Base(f); base != "kustomization.yaml" {
				want = append(want, base)
			}
		}
		got := slices.Clone(k.Resources)
		sort.Strings(got)
		if !slices.Equal(got, want) {
			return nil, fmt.Errorf("%s/kustomization.yaml lists %v; the directory has %v", dir, got, want)
		}
		for _, name := range k.Resources {
			path := dir + "/" + name
			b, err := read(path)
			if err != nil {
				return nil, err
			}
			docs, err := decodeAll(b)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			for _, d := range docs {
				if k.Namespace != "" && dig(d, "metadata", "namespace") == nil {
					d["metadata"].(map[string]any)["namespace"] = k.Namespace
				}
				all = append(all, manifest{path, d})
			}
		}
	}
	return all, nil
}

// checkManifests validates every manifest against its schema, then checks
// what a schema cannot see: the binaries' flags, the probes, the grace
// periods, the names that tie the files together.
func checkManifests(t testing.TB, ms []manifest) []error {
	s, envs := loadSchemas(t), binaryEnv(t)
	var errs []error
	fail := func(m manifest, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%v: %s", m, fmt.Sprintf(format, args...)))
	}
	for _, m := range ms {
		if err := s.validate(m.doc); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.file, err))
		}
	}
	if len(errs) > 0 {
		return errs // the rest assumes well-formed documents
	}

	byKind := map[string][]manifest{}
	for _, m := range ms {
		byKind[str(m.doc["kind"])] = append(byKind[str(m.doc["kind"])], m)
	}
	find := func(kind, name string) (manifest, bool) {
		for _, m := range byKind[kind] {
			if str(dig(m.doc, "metadata", "name")) == name {
				return m, true
			}
		}
		return manifest{}, false
	}

	// The shared settings: every key is read by a binary that loads them.
	configReaders := map[string][]string{} // ConfigMap name -> binaries loading it
	for _, kind := range []string{"Deployment", "Job"} {
		for _, m := range byKind[kind] {
			pod := dig(m.doc, "spec", "template", "spec")
			for _, c := range list(dig(pod, "containers")) {
				for _, from := range list(dig(c, "envFrom")) {
					if name := str(dig(from, "configMapRef", "name")); name != "" {
						configReaders[name] = append(configReaders[name], binaryOf(c))
					}
				}
			}
		}
	}
	for _, m := range byKind["ConfigMap"] {
		readers := configReaders[str(dig(m.doc, "metadata", "name"))]
		for key := range m.doc["data"].(map[string]any) {
			if !slices.ContainsFunc(readers, func(b string) bool { return envs[b][key] }) {
				fail(m, "$%s is read by none of the binaries loading it (%v)", key, readers)
			}
		}
	}

	// Workloads: each container runs a pixel binary with variables it reads,
	// as non-root on a read-only root, probed on its admin port, and given
	// the time its flags need to stop.
	for _, kind := range []string{"Deployment", "Job"} {
		for _, m := range byKind[kind] {
			pod := dig(m.doc, "spec", "template", "spec")
			if dig(pod, "securityContext", "runAsNonRoot") != true {
				fail(m, "the pod must set securityContext.runAsNonRoot")
			}
			grace := 30 * time.Second
			if n, ok := dig(pod, "terminationGracePeriodSeconds").(int); ok {
				grace = time.Duration(n) * time.Second
			}
			for _, c := range list(dig(pod, "containers")) {
				checkContainer(m, kind, pod, c, envs, grace, fail)
			}
		}
	}

	// Selectors and targets name what exists.
	for _, kind := range []string{"Service", "PodDisruptionBudget"} {
		for _, m := range byKind[kind] {
			sel := dig(m.doc, "spec", "selector")
			if kind == "PodDisruptionBudget" {
				sel = dig(sel, "matchLabels")
			}
			if !selectsWorkload(byKind["Deployment"], sel) {
				fail(m, "its selector %v matches no Deployment's pods", sel)
			}
		}
	}
	for _, m := range byKind["HorizontalPodAutoscaler"] {
		ref := dig(m.doc, "spec", "scaleTargetRef")
		if _, ok := find(str(dig(ref, "kind")), str(dig(ref, "name"))); !ok {
			fail(m, "scales %v, which is not in the manifests", ref)
		}
		if !slices.ContainsFunc(list(dig(m.doc, "spec", "metrics")), func(x any) bool {
			return str(dig(x, "resource", "name")) == "cpu"
		}) {
			fail(m, "it must scale on CPU")
		}
	}

	// Kafka (Strimzi): the three topics with replication 3 and
	// min.insync.replicas 2, and enough partitions for the consumers.
	var kafka manifest
	if k := byKind["Kafka"]; len(k) != 1 {
		errs = append(errs, fmt.Errorf("want one Kafka cluster, have %d", len(k)))
	} else {
		kafka = k[0]
		cfg := dig(kafka.doc, "spec", "kafka", "config")
		if dig(cfg, "min.insync.replicas") != 2 || dig(cfg, "default.replication.factor") != 3 || dig(cfg, "auto.create.topics.enable") != false {
			fail(kafka, "wants min.insync.replicas 2, default.replication.factor 3, auto.create.topics.enable false")
		}
	}
	for _, m := range byKind["KafkaNodePool"] {
		if _, ok := find("Kafka", str(dig(m.doc, "metadata", "labels", "strimzi.io/cluster"))); !ok {
			fail(m, "its strimzi.io/cluster label names no Kafka")
		}
		if n, _ := dig(m.doc, "spec", "replicas").(int); n < 3 {
			fail(m, "replicas %d: replication 3 needs 3 brokers", n)
		}
	}
	partitions := 0
	for _, topic := range []string{"pixel.events", "pixel.events.dlq", "pixel.forward.dlq"} {
		m, ok := find("KafkaTopic", topic)
		if !ok {
			errs = append(errs, fmt.Errorf("no KafkaTopic %s", topic))
			continue
		}
		if dig(m.doc, "spec", "replicas") != 3 || dig(m.doc, "spec", "config", "min.insync.replicas") != 2 {
			fail(m, "wants replicas 3 and min.insync.replicas 2")
		}
		if topic == "pixel.events" {
			partitions, _ = dig(m.doc, "spec", "partitions").(int)
		}
	}
	if c, ok := find("Deployment", "consumer"); ok {
		if n, _ := dig(c.doc, "spec", "replicas").(int); n > partitions {
			fail(c, "%d consumers for %d partitions of pixel.events: %d would stand idle", n, partitions, n-partitions)
		}
	}

	// ClickHouse (Altinity): the cluster pixel, 2 shards x 2 replicas, on the Keeper.
	var chi manifest
	if c := byKind["ClickHouseInstallation"]; len(c) != 1 {
		errs = append(errs, fmt.Errorf("want one ClickHouseInstallation, have %d", len(c)))
	} else {
		chi = c[0]
		clusters := list(dig(chi.doc, "spec", "configuration", "clusters"))
		if len(clusters) != 1 || str(dig(clusters[0], "name")) != "pixel" ||
			dig(clusters[0], "layout", "shardsCount") != 2 || dig(clusters[0], "layout", "replicasCount") != 2 {
			fail(chi, "wants one cluster named pixel of 2 shards x 2 replicas")
		}
		settings, err := pixelXMLSettings()
		if err != nil {
			errs = append(errs, err)
		}
		for path, want := range settings {
			if got := fmt.Sprint(dig(chi.doc, "spec", "configuration", "settings", path)); got != want {
				fail(chi, "settings %s is %s; clickhouse/pixel.xml, the servers' config of compose.yaml, says %s", path, got, want)
			}
		}
		for _, node := range list(dig(chi.doc, "spec", "configuration", "zookeeper", "nodes")) {
			host := str(dig(node, "host"))
			if _, ok := find("ClickHouseKeeperInstallation", strings.TrimPrefix(host, "keeper-")); !ok {
				fail(chi, "its ZooKeeper node %s is no ClickHouseKeeperInstallation's Service (keeper-NAME)", host)
			}
		}
	}

	// The shared settings point at the operators' Services.
	if cm, ok := find("ConfigMap", "pixel-config"); ok && kafka.doc != nil && chi.doc != nil {
		port := 0
		for _, l := range list(dig(kafka.doc, "spec", "kafka", "listeners")) {
			if dig(l, "tls") == false {
				port, _ = dig(l, "port").(int)
			}
		}
		want := fmt.Sprintf("%s-kafka-bootstrap.%s.svc:%d", dig(kafka.doc, "metadata", "name"), dig(kafka.doc, "metadata", "namespace"), port)
		if got := str(dig(cm.doc, "data", "KAFKA_BROKERS")); got != want {
			fail(cm, "KAFKA_BROKERS %q, but Strimzi's bootstrap Service of the plain listener is %q", got, want)
		}
		want = fmt.Sprintf("clickhouse-%s.%s.svc:9000", dig(chi.doc, "metadata", "name"), dig(chi.doc, "metadata", "namespace"))
		if got := str(dig(cm.doc, "data", "CLICKHOUSE_ADDR")); got != want {
			fail(cm, "CLICKHOUSE_ADDR %q, but the ClickHouseInstallation's Service is %q", got, want)
		}
	}
	return errs
}

// pixelXMLSettings reads clickhouse/pixel.xml into the operator's form of
// server settings: the path of each element that holds a value
// ("merge_tree/parts_to_delay_insert") and the value.
func pixelXMLSettings() (map[string]string, error) {
	b, err := os.ReadFile("clickhouse/pixel.xml")
	if err != nil {
		return nil, err
	}
	settings := map[string]string{}
	var path []string
	var text string
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return settings, nil
		}
		if err != nil {
			return nil, fmt.Errorf("clickhouse/pixel.xml: %w", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			path, text = append(path, tok.Name.Local), ""
		case xml.CharData:
			text += strings.TrimSpace(string(tok))
		case xml.EndElement:
			if text != "" && len(path) > 1 {
				settings[strings.Join(path[1:], "/")] = text
			}
			path, text = path[:len(path)-1], ""
		}
	}
}

// binaryOf is the pixel binary a container runs: its command's base name.
func binaryOf(c any) string {
	cmd := list(dig(c, "command"))
	if len(cmd) == 0 {
		return ""
	}
	return filepath.Base(str(cmd[0]))
}

func checkContainer(m manifest, kind string, pod, c any, envs map[string]map[string]bool, grace time.Duration, fail func(manifest, string, ...any)) {
	bin := binaryOf(c)
	known, ok := envs[bin]
	if !ok {
		fail(m, "container %s runs %q, not a pixel binary (set command)", dig(c, "name"), bin)
		return
	}
	env := map[string]string{}
	for _, e := range list(dig(c, "env")) {
		name := str(dig(e, "name"))
		if !known[name] {
			fail(m, "sets $%s, which %s does not read (see %s -help)", name, bin, bin)
		}
		env[name] = str(dig(e, "value"))
	}
	sc := dig(c, "securityContext")
	if dig(sc, "readOnlyRootFilesystem") != true || dig(sc, "allowPrivilegeEscalation") != false {
		fail(m, "container %s must set readOnlyRootFilesystem: true and allowPrivilegeEscalation: false", bin)
	}
	if dig(c, "resources", "requests") == nil || dig(c, "resources", "limits", "memory") == nil {
		fail(m, "container %s needs resource requests and a memory limit", bin)
	}
	duration := func(name string) time.Duration {
		v, ok := env[name]
		if !ok {
			fail(m, "set $%s explicitly: the grace period is measured against it", name)
			return 0
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			fail(m, "$%s=%q: %v", name, v, err)
		}
		return d
	}
	if kind != "Deployment" {
		return
	}

	// Probes on the admin port, which must listen beyond loopback.
	adminVar := strings.ToUpper(bin) + "_ADMIN_ADDR"
	_, port, err := net.SplitHostPort(env[adminVar])
	if host, _, _ := net.SplitHostPort(env[adminVar]); err != nil || (host != "" && host != "0.0.0.0" && host != "::") {
		fail(m, "$%s=%q: the admin address must listen on every interface (\":PORT\") for the kubelet's probes", adminVar, env[adminVar])
	}
	ports := map[string]string{} // port name -> number
	for _, p := range list(dig(c, "ports")) {
		ports[str(dig(p, "name"))] = strconv.Itoa(dig(p, "containerPort").(int))
	}
	for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
		get := dig(c, probe, "httpGet")
		if get == nil {
			fail(m, "container %s needs a %s", bin, probe)
			continue
		}
		p := fmt.Sprint(dig(get, "port"))
		if n, named := ports[p]; named {
			p = n
		}
		if str(dig(get, "path")) != path || p != port {
			fail(m, "%s must get %s on the admin port %s (%s), not %s on %s", probe, path, port, adminVar, dig(get, "path"), p)
		}
	}

	// Grace: the binary's own stop (and the collector's drain) must fit.
	need := duration(strings.ToUpper(bin) + "_SHUTDOWN_TIMEOUT")
	if bin == "collector" {
		need += duration("COLLECTOR_DRAIN_DELAY")
	}
	if grace <= need {
		fail(m, "terminationGracePeriodSeconds %v must exceed %v (drain delay + shutdown timeout), or the kubelet kills it mid-stop", grace, need)
	}

	// Files: the spool on a volume, the destination key from a Secret.
	mounts := map[string]string{} // mount path -> volume
	for _, vm := range list(dig(c, "volumeMounts")) {
		mounts[str(dig(vm, "mountPath"))] = str(dig(vm, "name"))
	}
	volume := func(name string) any {
		for _, v := range list(dig(pod, "volumes")) {
			if str(dig(v, "name")) == name {
				return v
			}
		}
		return nil
	}
	if dir, ok := env["COLLECTOR_SPOOL_DIR"]; ok || bin == "collector" {
		if !ok {
			dir = "/var/lib/pixel/spool"
		}
		if volume(mounts[dir]) == nil {
			fail(m, "the spool %s must be a mounted volume (the root file system is read-only)", dir)
		}
	}
	if key, ok := env["PIXEL_DESTINATION_KEY_FILE"]; ok {
		if dig(volume(mounts[filepath.Dir(key)]), "secret", "secretName") == nil {
			fail(m, "$PIXEL_DESTINATION_KEY_FILE=%s must be in a mounted Secret", key)
		}
	}
}

// selectsWorkload says whether labels select the pods of one of the
// Deployments.
func selectsWorkload(deployments []manifest, sel any) bool {
	labels, _ := sel.(map[string]any)
	if len(labels) == 0 {
		return false
	}
	for _, d := range deployments {
		pod, _ := dig(d.doc, "spec", "template", "metadata", "labels").(map[string]any)
		match := true
		for k, v := range labels {
			match = match && pod[k] == v
		}
		if match {
			return true
		}
	}
	return false
}

func TestKubernetesManifests(t *testing.T) {
	ms, err := loadManifests(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range checkManifests(t, ms) {
		t.Error(err)
	}
	kinds := map[string]int{}
	for _, m := range ms {
		kinds[str(m.doc["kind"])]++
	}
	t.Logf("%d manifests checked: %v", len(ms), kinds)
}

// TestKubernetesManifestsBroken: each broken copy of a real manifest is
// refused, with the reason.
func TestKubernetesManifestsBroken(t *testing.T) {
	for _, tc := range []struct {
		name, file, old, new, want string
	}{
		{"unknown field", "k8s/collector.yaml", "terminationGracePeriodSeconds: 45", "terminationGracePeriodSeconds: 45\n      terminationGraceSeconds: 45", "terminationGraceSeconds"},
		{"unknown field in a container", "k8s/consumer.yaml", "image: pixel", "image: pixel\n          imagePullPolicyy: Always", "imagePullPolicyy"},
		{"wrong type", "k8s/consumer.yaml", "replicas: 3", "replicas: three", "replicas"},
		{"unknown env var", "k8s/collector.yaml", "COLLECTOR_DRAIN_DELAY", "COLLECTOR_DRAIN_DELAI", "COLLECTOR_DRAIN_DELAI"},
		{"shared setting nobody reads", "k8s/config.yaml", "LOG_LEVEL: info", "LOG_LEVEL: info\n  CONSUMER_BATCH: \"1\"", "CONSUMER_BATCH"},
		{"probe on the public port", "k8s/collector.yaml", "httpGet: {path: /readyz, port: admin}", "httpGet: {path: /readyz, port: http}", "readinessProbe"},
		{"admin on loopback", "k8s/consumer.yaml", `value: ":8082"`, `value: "127.0.0.1:8082"`, "every interface"},
		{"grace shorter than the drain", "k8s/collector.yaml", "terminationGracePeriodSeconds: 45", "terminationGracePeriodSeconds: 25", "must exceed 30s"},
		{"root file system writable", "k8s/forwarder.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem"},
		{"topic not replicated", "k8s/operators/topics.yaml", "replicas: 3", "replicas: 1", "replicas 3"},
		{"more consumers than partitions", "k8s/consumer.yaml", "replicas: 3", "replicas: 13", "stand idle"},
		{"settings not those of pixel.xml", "k8s/operators/clickhouse.yaml", "parts_to_throw_insert: 600", "parts_to_throw_insert: 300", "pixel.xml"},
		{"wrong bootstrap", "k8s/config.yaml", "pixel-kafka-bootstrap.kafka.svc:9092", "kafka:9092", "bootstrap Service"},
		{"file not in the kustomization", "k8s/kustomization.yaml", "  - forwarder.yaml\n", "", "the directory has"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tc.old) {
				t.Fatalf("%s no longer holds %q: update the case", tc.file, tc.old)
			}
			broken := strings.Replace(string(b), tc.old, tc.new, 1)
			ms, err := loadManifests(map[string]string{tc.file: broken})
			var errs []error
			if err != nil {
				errs = append(errs, err)
			} else {
				errs = checkManifests(t, ms)
			}
			for _, err := range errs {
				if strings.Contains(err.Error(), tc.want) {
					t.Logf("refused: %v", err)
					return
				}
			}
			t.Errorf("want an error mentioning %q, got %v", tc.want, errs)
		})
	}
}

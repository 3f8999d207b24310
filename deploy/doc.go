// Package deploy holds what a team takes to production: the compose file,
// the Kubernetes manifests (k8s/, and the operators' clusters in
// k8s/operators/) and the image's Dockerfile. It has no code; its test
// validates every manifest against its schema (Kubernetes' OpenAPI spec, the
// compose specification; the operators' resources by their settings), checks that
// each environment variable is one the binary reads, and that probes and
// grace periods fit the binaries' flags, so that the files cannot rot.
package deploy

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTLSFlags(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		err  string // "" = parses
	}{
		{"plain HTTP by default", nil, nil, ""},
		{"a certificate without a key", []string{"-tls-cert", bad}, nil, "go together"},
		{"a key without a certificate", []string{"-tls-key", bad}, nil, "go together"},
		{"from the environment, unreadable", nil, map[string]string{"COLLECTOR_TLS_CERT": bad, "COLLECTOR_TLS_KEY": bad}, "cannot load -tls-cert"},
		{"missing files", []string{"-tls-cert", bad + ".nope", "-tls-key", bad}, nil, "cannot load -tls-cert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, fs := newConfig()
			err := fs.Parse(tc.args)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("Parse: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("Parse = %v, want an error with %q", err, tc.err)
			}
		})
	}
}

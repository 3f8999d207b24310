package report_test

import (
	"os"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

// The reports run against this test binary's private ClickHouse server.
func TestMain(m *testing.M) { os.Exit(devstacktest.RunTests(m)) }

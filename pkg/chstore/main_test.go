package chstore_test

import (
	"os"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

// The integration tests run against this test binary's private ClickHouse
// server (devstack); each test gets a fresh database.
func TestMain(m *testing.M) { os.Exit(devstacktest.RunTests(m)) }

// Short local names for the shared helpers.
var (
	testContext = devstacktest.Context
	open        = devstacktest.Open
	queryUint64 = devstacktest.QueryUint64
)

package destination_test

import (
	"os"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

func TestMain(m *testing.M) { os.Exit(devstacktest.RunTests(m)) }

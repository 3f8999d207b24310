package devstack

import "testing"

// A cluster id starting with "-" is taken for an option by the storage
// tool: one in 64 random ids would make StartKafka fail.
func TestNewClusterIDNeverStartsWithADash(t *testing.T) {
	for range 10_000 {
		if id := newClusterID(); id[0] == '-' || len(id) != 22 {
			t.Fatalf("cluster id %q", id)
		}
	}
}

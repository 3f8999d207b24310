package ingest

import (
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/batch"
)

func TestConfigZeroFieldsTakeDefaults(t *testing.T) {
	def := DefaultConfig()
	if got := (Config{}).withDefaults(); got.Batch != def.Batch || got.InsertTimeout != def.InsertTimeout ||
		got.MaxBackoff != def.MaxBackoff || got.Topic != def.Topic || got.Group != def.Group || len(got.Brokers) != 1 {
		t.Fatalf("zero Config became %+v, want %+v", got, def)
	}
	set := Config{
		Brokers: []string{"a:1", "b:2"}, Topic: "t", Group: "g",
		Batch:         batch.Policy{MaxRows: 5, MaxBytes: 6, MaxAge: 7 * time.Millisecond},
		InsertTimeout: time.Second, MaxBackoff: 2 * time.Second,
	}
	if got := set.withDefaults(); got.Batch != set.Batch || got.InsertTimeout != set.InsertTimeout ||
		got.MaxBackoff != set.MaxBackoff || got.Topic != "t" || got.Group != "g" || len(got.Brokers) != 2 {
		t.Fatalf("set fields changed: %+v", got)
	}
}

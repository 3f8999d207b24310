package chkafka_test

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/bench/chkafka"
)

func TestStatements(t *testing.T) {
	p := chkafka.Pipeline{Database: "bench_engine", Brokers: "127.0.0.1:9092", Topic: "pixel.events", Group: "ch-engine"}
	stmts, err := p.Statements()
	if err != nil {
		t.Fatal(err)
	}
	if len(stmts) != 2 {
		t.Fatalf("%d statements", len(stmts))
	}
	for _, want := range []string{"CREATE TABLE bench_engine.events_queue AS bench_engine.events ENGINE = Kafka",
		"kafka_broker_list = '127.0.0.1:9092'", "kafka_topic_list = 'pixel.events'", "kafka_group_name = 'ch-engine'",
		"kafka_format = 'JSONEachRow'", "kafka_num_consumers = 1"} {
		if !strings.Contains(stmts[0], want) {
			t.Errorf("%q lacks %q", stmts[0], want)
		}
	}
	if want := "CREATE MATERIALIZED VIEW bench_engine.events_queue_mv TO bench_engine.events AS SELECT * FROM bench_engine.events_queue"; stmts[1] != want {
		t.Errorf("view: %q", stmts[1])
	}
	for _, bad := range []chkafka.Pipeline{
		{Database: "x.y", Brokers: "b:1", Topic: "t", Group: "g"},
		{Database: "x", Brokers: "b:1", Topic: "t'; DROP TABLE x --", Group: "g"},
		{Database: "x", Brokers: "", Topic: "t", Group: "g"},
	} {
		if _, err := bad.Statements(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestWriteConfig(t *testing.T) {
	dir := t.TempDir()
	if err := chkafka.WriteConfig(dir); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.d", "pixel-bench-kafka.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Kafka struct {
			AutoOffsetReset string `xml:"auto_offset_reset"`
		} `xml:"kafka"`
	}
	if err := xml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("not XML: %v", err)
	}
	if cfg.Kafka.AutoOffsetReset != "smallest" {
		t.Errorf("auto_offset_reset %q", cfg.Kafka.AutoOffsetReset)
	}
}

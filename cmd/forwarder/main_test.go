package main

import (
	"testing"
	"time"
)

func TestFlags(t *testing.T) {
	t.Setenv("FORWARDER_LINGER", "250ms")
	c, fs := newConfig()
	if err := fs.Parse([]string{"-kafka-brokers", "k1:9092,k2:9092", "-clickhouse-addr", "ch:9000", "-max-backoff", "10s", "-destination-key-file", "/tmp/key"}); err != nil {
		t.Fatal(err)
	}
	f := c.forward
	if f.Linger != 250*time.Millisecond || f.MaxBackoff != 10*time.Second || len(f.Brokers) != 2 || f.DLQTopic != "pixel.forward.dlq" || f.Topic != "pixel.events" || c.keyFile != "/tmp/key" || c.adminAddr != ":8091" {
		t.Errorf("config %+v", c)
	}
	_, fs = newConfig()
	if err := fs.Parse([]string{"-kafka-brokers", "k1:9092", "-clickhouse-addr", "ch:9000", "-dlq-topic", "pixel.events"}); err == nil {
		t.Error("a dead-letter topic equal to the events topic was accepted")
	}
}

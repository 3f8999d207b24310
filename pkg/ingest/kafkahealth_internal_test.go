package ingest

import (
	"strings"
	"testing"
)

func TestKafkaHealthStates(t *testing.T) {
	h := newKafkaHealth([]string{"10.0.0.1:9092", "10.0.0.2:9092"})
	wantErr := func(want string) {
		t.Helper()
		err := h.err()
		if want == "" {
			if err != nil {
				t.Fatalf("err() = %v, want nil", err)
			}
			return
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("err() = %v, want it to contain %q", err, want)
		}
	}

	wantErr("has not reached Kafka at 10.0.0.1:9092,10.0.0.2:9092 yet")
	h.logged("dial tcp 10.0.0.1:9092: connect: connection refused")
	if h.failed("") {
		t.Fatal("a failure before the first contact turned a ready consumer unready")
	}
	wantErr("has not reached Kafka at 10.0.0.1:9092,10.0.0.2:9092 yet: dial tcp 10.0.0.1:9092: connect: connection refused")

	if wasUnready, _ := h.reached(); !wasUnready {
		t.Fatal("the first contact: want wasUnready")
	}
	wantErr("")
	if wasUnready, _ := h.reached(); wasUnready {
		t.Fatal("contact while ready: want !wasUnready")
	}

	if !h.failed("fetch: i/o timeout") {
		t.Fatal("the first failure after contact: want wasReady")
	}
	wantErr("cannot fetch from Kafka at 10.0.0.1:9092,10.0.0.2:9092 (for ")
	wantErr("): fetch: i/o timeout")
	if h.failed("") {
		t.Fatal("a second failure: want !wasReady (one warning per outage)")
	}
	wantErr("fetch: i/o timeout") // the reason stays until another is known

	if wasUnready, _ := h.reached(); !wasUnready {
		t.Fatal("contact after a failure: want wasUnready")
	}
	wantErr("")

	h.logged(strings.Repeat("x", 1000))
	h.failed("")
	if err := h.err(); len(err.Error()) > 400 {
		t.Fatalf("reason of %d bytes: want it cut", len(err.Error()))
	}
}

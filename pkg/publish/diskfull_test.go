package publish_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/devstack"
	"github.com/pixel-pipeline/pixel/pkg/spool"
)

// fullDisk is the operating system's file system, except that while full is
// set, writes to spool segments fail with ENOSPC the way a full disk makes
// them fail (creating a file, or overwriting the cursor in place, needs no
// new blocks and works).
type fullDisk struct{ full atomic.Bool }

func (d *fullDisk) MkdirAll(path string, perm os.FileMode) error { return os.MkdirAll(path, perm) }
func (d *fullDisk) ReadDir(name string) ([]os.DirEntry, error)   { return os.ReadDir(name) }
func (d *fullDisk) Remove(name string) error                     { return os.Remove(name) }
func (d *fullDisk) Rename(oldpath, newpath string) error         { return os.Rename(oldpath, newpath) }

func (d *fullDisk) OpenFile(name string, flag int, perm os.FileMode) (spool.File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &fullFile{File: f, disk: d, seg: strings.HasSuffix(name, ".seg") || filepath.Base(name) == "PROBE"}, nil
}

type fullFile struct {
	*os.File
	disk *fullDisk
	seg  bool
}

func (f *fullFile) WriteAt(b []byte, off int64) (int, error) {
	if f.seg && f.disk.full.Load() {
		return 0, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.File.WriteAt(b, off)
}

// TestSpoolDiskFullThenKafkaBack is the case of a disk that fills up under
// the spool while Kafka is away: events that can be kept neither by Kafka
// nor by the spool are dropped and counted, and the publisher is unready;
// once Kafka is back, the spool is replayed and new events go to Kafka
// although the disk is still full — none is lost.
func TestSpoolDiskFullThenKafkaBack(t *testing.T) {
	const spooled, lost, after, keys = 400, 300, 1000, 13
	addr, startBroker := downBroker(t)
	disk := &fullDisk{}
	cfg := spoolConfig([]string{addr}, t.TempDir())
	cfg.Spool.FS = disk
	cfg.QueueSize = 4096 // room for the events published after Kafka came back
	p := newPublisher(t, cfg)

	if got := p.publishRange(0, spooled, keys); got != spooled {
		t.Fatalf("%d of %d events taken while Kafka is down", got, spooled)
	}
	waitFor(t, "the events in the spool", func() (bool, string) {
		s := p.metric(t, "pixel_publish_spooled_total")
		return s == spooled, fmt.Sprintf("spooled %v", s)
	})
	disk.full.Store(true)
	p.publishRange(spooled, spooled+lost, keys)
	waitFor(t, "the events that cannot be kept counted as dropped", func() (bool, string) {
		d := p.metric(t, `pixel_publish_dropped_total{reason="spool_error"}`)
		return d == lost && p.QueueLen() == 0, fmt.Sprintf("dropped %v, queued %d", d, p.QueueLen())
	})
	if err := p.Ready(); err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("Ready() = %v; want unready, saying the disk is full", err)
	}
	if w := p.metric(t, "pixel_spool_writable"); w != 0 {
		t.Fatalf("pixel_spool_writable = %v", w)
	}
	if q := p.metric(t, `pixel_publish_dropped_total{reason="queue_full"}`); q != 0 {
		t.Fatalf("dropped{queue_full} = %v: a spool error is not a full queue", q)
	}

	// Kafka is back; the disk is still full.
	startBroker()
	waitFor(t, "the spool replayed", func() (bool, string) {
		r, s := p.metric(t, "pixel_publish_replayed_total"), p.metric(t, "pixel_publish_spooling")
		return r == spooled && s == 0, fmt.Sprintf("replayed %v, spooling %v", r, s)
	})
	if err := p.Ready(); err != nil {
		t.Fatalf("Ready() = %v while Kafka takes events", err)
	}
	if b := p.metric(t, "pixel_spool_bytes"); b != 0 {
		t.Fatalf("pixel_spool_bytes = %v after the drain, want 0", b)
	}
	if got := p.publishRange(spooled+lost, spooled+lost+after, keys); got != after {
		t.Fatalf("%d of %d events taken after Kafka came back", got, after)
	}
	if err := p.Close(testContext(t)); err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, r := range readAll(t, []string{addr}) {
		seen[r.seq] = true
	}
	for i := range spooled + lost + after {
		if want := i < spooled || i >= spooled+lost; seen[i] != want {
			t.Fatalf("event %d in Kafka: %v, want %v", i, seen[i], want)
		}
	}
	if d := p.metric(t, `pixel_publish_dropped_total{reason="spool_error"}`); d != lost {
		t.Fatalf("dropped{spool_error} = %v at the end, want %d", d, lost)
	}
}

// TestKafkaBackTakesEventsAtOnce: once Kafka is back after an outage, the
// events published from then on are written to it at once, even while the
// spool refuses them — the publisher must not need a metadata refresh
// first (a transport replaced during the outage would know nothing of the
// cluster and fail every write until it asked again).
func TestKafkaBackTakesEventsAtOnce(t *testing.T) {
	const before, during, after, keys = 100, 200, 300, 13
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	first := seedCluster(t, port)
	addr := first.ListenAddrs()
	disk := &fullDisk{}
	cfg := spoolConfig(addr, t.TempDir())
	cfg.Spool.FS = disk
	p := newPublisher(t, cfg)
	p.publishRange(0, before, keys)
	waitFor(t, "the first events acknowledged", func() (bool, string) {
		a := p.metric(t, "pixel_publish_acked_total")
		return a == before, fmt.Sprintf("acked %v", a)
	})

	first.Close()
	disk.full.Store(true)
	p.publishRange(before, before+during, keys)
	waitFor(t, "the events of the outage dropped: Kafka and the spool refuse them", func() (bool, string) {
		d := p.metric(t, `pixel_publish_dropped_total{reason="spool_error"}`)
		return d == during && p.QueueLen() == 0, fmt.Sprintf("dropped %v, queued %d", d, p.QueueLen())
	})

	second := seedCluster(t, port)
	if got := p.publishRange(before+during, before+during+after, keys); got != after {
		t.Fatalf("%d of %d events taken after Kafka came back", got, after)
	}
	waitFor(t, "the events after the outage acknowledged", func() (bool, string) {
		a := p.metric(t, "pixel_publish_acked_total")
		return a == before+after, fmt.Sprintf("acked %v", a)
	})
	if err := p.Close(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if d := p.metric(t, `pixel_publish_dropped_total{reason="spool_error"}`); d != during {
		t.Fatalf("dropped{spool_error} = %v, want the %d of the outage only", d, during)
	}
	checkDelivered(t, readAll(t, second.ListenAddrs()), before+during, before+during+after, keys)
}

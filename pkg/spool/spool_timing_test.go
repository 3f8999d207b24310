package spool

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// BenchmarkAppend appends ~300-byte events, the collector's typical size,
// under each fsync policy. When the spool is full the timer stops and it is
// drained.
func BenchmarkAppend(b *testing.B) {
	for _, policy := range []FsyncPolicy{Always, Interval, Never} {
		b.Run(policy.String(), func(b *testing.B) {
			s := openSpool(b, Options{Dir: b.TempDir(), MaxBytes: 256 << 20, Fsync: policy})
			k, v := []byte("3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"), bytes.Repeat([]byte("v"), 300)
			now := time.Now()
			size, _ := recordSize(len(k), len(v))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				err := s.Append(k, v, now)
				if errors.Is(err, ErrFull) {
					b.StopTimer()
					drainAll(b, s)
					b.StartTimer()
					err = s.Append(k, v, now)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendParallel appends from GOMAXPROCS goroutines (policy Never).
func BenchmarkAppendParallel(b *testing.B) {
	s := openSpool(b, Options{Dir: b.TempDir(), MaxBytes: 1 << 40, Fsync: Never})
	k, v := []byte("3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"), bytes.Repeat([]byte("v"), 300)
	now := time.Now()
	size, _ := recordSize(len(k), len(v))
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Append(k, v, now); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkReadBatch reads and commits ~300-byte events in batches of 1000:
// how fast a spool drains once Kafka is back.
func BenchmarkReadBatch(b *testing.B) {
	s := openSpool(b, Options{Dir: b.TempDir(), MaxBytes: 1 << 40, Fsync: Never})
	k, v := []byte("3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"), bytes.Repeat([]byte("v"), 300)
	now := time.Now()
	size, _ := recordSize(len(k), len(v))
	const n = 100_000
	for range n {
		if err := s.Append(k, v, now); err != nil {
			b.Fatal(err)
		}
	}
	const perBatch = 1000
	b.SetBytes(perBatch * int64(size))
	b.ReportAllocs()
	var batch []Record
	read := 0
	for b.Loop() {
		if read == n {
			b.StopTimer()
			s.Rewind() // nothing was committed: read it all again
			read = 0
			b.StartTimer()
		}
		var err error
		batch, _, err = s.ReadBatch(batch, perBatch, 16<<20)
		if err != nil || len(batch) != perBatch {
			b.Fatalf("ReadBatch = %d records, %v", len(batch), err)
		}
		read += perBatch
	}
}

func drainAll(b *testing.B, s *Spool) {
	var batch []Record
	for {
		var c Cursor
		var err error
		batch, c, err = s.ReadBatch(batch, 10000, 16<<20)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Commit(c); err != nil {
			b.Fatal(err)
		}
		if len(batch) == 0 {
			return
		}
	}
}

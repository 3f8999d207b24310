package publish

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/segmentio/kafka-go"
)

// TestPartitionIsKafkaGos: for many keys of every length up to 80 bytes and
// many partition counts, partition chooses what kafka-go's Murmur2Balancer
// chooses, the balancer the publisher's events were partitioned with before.
func TestPartitionIsKafkaGos(t *testing.T) {
	balancer := kafka.Murmur2Balancer{}
	ids := make([]int, 1000)
	for i := range ids {
		ids[i] = i
	}
	rng := rand.New(rand.NewPCG(1, 2))
	keys := [][]byte{{}, []byte("sc8cPxnWCqTSehxeTpAuZA"), []byte("visitor-1"), {0xff, 0xfe, 0x80, 0x7f}}
	for range 20000 {
		key := make([]byte, rng.IntN(81))
		for i := range key {
			key[i] = byte(rng.Uint32())
		}
		keys = append(keys, key)
	}
	for i := range 5000 {
		keys = append(keys, fmt.Appendf(nil, "visitor-%d", i))
	}
	for _, n := range []int{1, 2, 3, 4, 6, 12, 50, 64, 100, 1000} {
		for _, key := range keys {
			want := balancer.Balance(kafka.Message{Key: key}, ids[:n]...)
			if got := partition(key, n); got != want {
				t.Fatalf("key %q of %d partitions: partition %d, kafka-go's Murmur2Balancer chooses %d", key, n, got, want)
			}
		}
	}
}

func TestPartitionOfNilKeyIsInRange(t *testing.T) {
	for range 1000 {
		if p := partition(nil, 3); p < 0 || p >= 3 {
			t.Fatalf("nil key: partition %d of 3", p)
		}
	}
}

func BenchmarkPartition(b *testing.B) {
	key := []byte("sc8cPxnWCqTSehxeTpAuZA")
	for b.Loop() {
		partition(key, 12)
	}
}

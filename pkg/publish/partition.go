package publish

import (
	"encoding/binary"
	"math/rand/v2"
)

// partition returns the partition of n that a record with key goes to: what
// kafka-go's Murmur2Balancer and Java's default partitioner choose, the
// positive murmur2 hash of the key modulo n, so one visitor's events land
// where other Kafka clients would put them. A nil key, like theirs, goes to
// a random partition; an empty one is hashed.
func partition(key []byte, n int) int {
	if key == nil {
		return rand.IntN(n)
	}
	return int((murmur2(key) & 0x7fffffff) % uint32(n))
}

// murmur2 is Kafka's murmur2 (Java's org.apache.kafka.common.utils.Utils),
// as kafka-go implements it, reading the key four bytes at a time.
func murmur2(data []byte) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	h := seed ^ uint32(len(data))
	for len(data) >= 4 {
		k := binary.LittleEndian.Uint32(data)
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
		data = data[4:]
	}
	switch len(data) {
	case 3:
		h ^= uint32(data[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

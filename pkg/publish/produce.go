package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	"github.com/segmentio/kafka-go/protocol"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"
	"github.com/segmentio/kafka-go/protocol/rawproduce"

	"github.com/pixel-pipeline/pixel/internal/kafkawire"
	"github.com/pixel-pipeline/pixel/pkg/spool"
)

// The one way events are written to Kafka, by the workers and the replayer
// alike: a batch of records is split by partition (murmur2 of the key, as
// kafka-go's Writer and Java clients choose; partition.go), encoded into
// one record batch per partition (internal/kafkawire) and sent as one
// produce request per partition leader with kafka-go's Transport, which
// routes it and keeps the connections and the cluster's metadata. Each
// partition's answer counts on its own: its records are acknowledged, or
// fail, together.

// kafkaClient is what the producers share: the transport, renewed when a
// write fails so that the next one starts from fresh metadata, and the
// settings of every produce request.
type kafkaClient struct {
	addr       net.Addr
	topic      string
	timeout    time.Duration // of a produce request: the broker's and ours
	codec      compress.Codec
	headers    []kafkawire.Header
	batchBytes int // most bytes of one partition's record batch, unless one record is larger

	transport atomic.Pointer[kafka.Transport]
	mu        sync.Mutex // renewing the transport
	renewed   time.Time
}

func newKafkaClient(cfg Config, codec compress.Codec, headers []kafkawire.Header) *kafkaClient {
	k := &kafkaClient{
		addr: kafka.TCP(cfg.Brokers...), topic: cfg.Topic, timeout: cfg.WriteTimeout,
		codec: codec, headers: headers, batchBytes: cfg.BatchBytes,
	}
	k.transport.Store(newTransport())
	return k
}

func newTransport() *kafka.Transport {
	return &kafka.Transport{DialTimeout: 5 * time.Second, MetadataTTL: metadataTTL}
}

// metadataTTL is how often the transport refreshes the cluster's metadata
// (partitions and their leaders) on its own; a failed write refreshes it at
// once (renew).
const metadataTTL = 10 * time.Second

// renewMinInterval spares the brokers a metadata request on every failed
// write; renewTimeout bounds the wait for one.
const (
	renewMinInterval = time.Second
	renewTimeout     = 2 * time.Second
)

// renew refreshes the metadata after a write through transport t failed:
// t refreshes it only every metadataTTL, and until then it would route
// requests to a leader that moved. A new transport asks the brokers at once;
// if they answer, it replaces t (requests in flight on t finish there, its
// idle connections are closed). If they do not, t stays: it knows the
// cluster's last layout, and a cluster that is down comes back at the same
// addresses — a new transport would know nothing, and report the failure of
// its first metadata request until it asks again, up to metadataTTL later.
func (k *kafkaClient) renew(t *kafka.Transport) {
	if !k.mu.TryLock() {
		return // another producer is renewing it
	}
	defer k.mu.Unlock()
	if k.transport.Load() != t || time.Since(k.renewed) < renewMinInterval {
		return
	}
	k.renewed = time.Now()
	fresh := newTransport()
	ctx, cancel := context.WithTimeout(context.Background(), renewTimeout)
	defer cancel()
	if _, err := fresh.RoundTrip(ctx, k.addr, &metadataAPI.Request{TopicNames: []string{k.topic}}); err != nil {
		fresh.CloseIdleConnections()
		return
	}
	k.transport.Store(fresh)
	t.CloseIdleConnections()
}

// close closes the current transport's idle connections and stops its
// metadata refreshes.
func (k *kafkaClient) close() { k.transport.Load().CloseIdleConnections() }

// producer writes batches of records. Each worker and the replayer has its
// own: it holds the buffers of one write, reused from one to the next; they
// take the memory of one produce request, whatever the number of partitions.
type producer struct {
	k    *kafkaClient
	meta metadataAPI.Request
	enc  *kafkawire.Encoder // this round's record batches, one after the other

	// By partition, for the partitions the topic has.
	leader  []int32         // the leader's broker id; -1: none
	readers []*bytes.Reader // over this round's record batch, for the request
	queued  [][]int32       // the indices of the records still to send in this call (in order)
	sent    [][]int32       // those in this round's record batch (taken from the front of queued)
	failed  []bool          // failed in this call: its later records wait for the next
	count   []int           // this call's records

	requests []*leaderRequest // this round's, one per leader (and spares)
	err      error            // the first failure of this call
	order    []int32          // this call's records, by partition (queued and sent point into it)
	part     []int32          // the partition of each of them, in the order of the call's todo
	done     []int32          // the records acknowledged
}

// leaderRequest is one produce request, to one leader.
type leaderRequest struct {
	leader     int32
	req        rawproduce.Request
	topics     [1]rawproduce.RequestTopic
	partitions []rawproduce.RequestPartition
}

func newProducer(k *kafkaClient) *producer {
	return &producer{k: k, meta: metadataAPI.Request{TopicNames: []string{k.topic}}, enc: kafkawire.NewEncoder(k.codec, k.headers...)}
}

// produce writes the records recs[i] for i in todo (in order), and returns
// the indices of those Kafka acknowledged (valid until the next call) and,
// when not all, why the others failed. The records of one partition go in
// order: after a failure in a partition, none of its later records is sent.
// Records are sent in rounds: those that do not fit in their partition's
// batch (Config.BatchBytes) wait for the next round.
func (pr *producer) produce(recs []spool.Record, todo []int32) ([]int32, error) {
	pr.done, pr.err = pr.done[:0], nil
	t := pr.k.transport.Load()
	n, err := pr.layout(t)
	if err != nil {
		pr.k.renew(t)
		return pr.done, err
	}
	pr.group(recs, todo, n)
	for {
		pr.enc.Reset()
		sending := false
		for pt, queued := range pr.queued[:n] {
			if pr.failed[pt] {
				queued = nil // its later records wait for the next call
			}
			k := 0
			for ; k < len(queued); k++ {
				r := &recs[queued[k]]
				if pr.enc.Len() > 0 && pr.enc.Size()+pr.enc.MaxRecordSize(r.Key, r.Value) > pr.k.batchBytes {
					break // for the next round
				}
				pr.enc.Append(r.Key, r.Value, millis(r.Time))
			}
			pr.sent[pt], pr.queued[pt] = queued[:k], queued[k:]
			if k == 0 {
				continue
			}
			sending = true
			b, err := pr.enc.Finish()
			if err != nil {
				pr.fail(pt, err)
				continue
			}
			pr.readers[pt].Reset(b)
		}
		if !sending {
			break
		}
		pr.send(t, n)
	}
	if pr.err != nil {
		pr.k.renew(t)
	}
	return pr.done, pr.err
}

// group sorts the records recs[i] for i in todo by partition, keeping their
// order within each, into pr.queued, and clears pr.failed.
func (pr *producer) group(recs []spool.Record, todo []int32, n int) {
	count := pr.count[:n]
	clear(count)
	pr.part = pr.part[:0]
	for _, i := range todo {
		pt := int32(partition(recs[i].Key, n))
		pr.part = append(pr.part, pt)
		count[pt]++
	}
	if cap(pr.order) < len(todo) {
		pr.order = make([]int32, len(todo))
	}
	off := 0
	for pt, c := range count {
		pr.queued[pt] = pr.order[off : off : off+c] // full at c: appends stay in their group
		off += c
	}
	for j, i := range todo {
		pt := pr.part[j]
		pr.queued[pt] = append(pr.queued[pt], i)
	}
	clear(pr.failed[:n])
}

// layout reads the topic's partitions and their leaders from the
// transport's cached metadata and sizes the buffers for them; it returns
// the number of partitions.
func (pr *producer) layout(t *kafka.Transport) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), pr.k.timeout)
	defer cancel()
	r, err := t.RoundTrip(ctx, pr.k.addr, &pr.meta)
	if err != nil {
		return 0, fmt.Errorf("cannot get the partitions of topic %q: %w", pr.k.topic, err)
	}
	for _, topic := range r.(*metadataAPI.Response).Topics {
		if topic.Name != pr.k.topic {
			continue
		}
		if topic.ErrorCode != 0 {
			return 0, fmt.Errorf("topic %q: %w", pr.k.topic, kafka.Error(topic.ErrorCode))
		}
		n := len(topic.Partitions)
		if n == 0 {
			break
		}
		for len(pr.leader) < n {
			pr.leader = append(pr.leader, -1)
			pr.readers = append(pr.readers, new(bytes.Reader))
			pr.queued = append(pr.queued, nil)
			pr.sent = append(pr.sent, nil)
			pr.failed = append(pr.failed, false)
			pr.count = append(pr.count, 0)
		}
		for pt := range n {
			pr.leader[pt] = -1
		}
		for _, p := range topic.Partitions {
			if p.PartitionIndex >= 0 && int(p.PartitionIndex) < n {
				pr.leader[p.PartitionIndex] = p.LeaderID
			}
		}
		return n, nil
	}
	return 0, fmt.Errorf("topic %q: %w", pr.k.topic, kafka.UnknownTopicOrPartition)
}

// send sends this round's batches, one request per leader, one after the
// other, and sorts their records into done and failed partitions.
func (pr *producer) send(t *kafka.Transport, n int) {
	used := 0
	for pt := range n {
		if len(pr.sent[pt]) == 0 || pr.failed[pt] {
			continue
		}
		if pr.leader[pt] < 0 {
			pr.fail(pt, kafka.LeaderNotAvailable)
			continue
		}
		var lr *leaderRequest
		for _, r := range pr.requests[:used] {
			if r.leader == pr.leader[pt] {
				lr = r
				break
			}
		}
		if lr == nil {
			if used == len(pr.requests) {
				pr.requests = append(pr.requests, new(leaderRequest))
			}
			lr = pr.requests[used]
			used++
			lr.leader, lr.partitions = pr.leader[pt], lr.partitions[:0]
		}
		lr.partitions = append(lr.partitions, rawproduce.RequestPartition{
			Partition: int32(pt),
			RecordSet: protocol.RawRecordSet{Reader: pr.readers[pt]},
		})
	}
	for k, lr := range pr.requests[:used] {
		lr.topics[0] = rawproduce.RequestTopic{Topic: pr.k.topic, Partitions: lr.partitions}
		lr.req = rawproduce.Request{
			Acks:    int16(kafka.RequireAll),
			Timeout: int32(pr.k.timeout / time.Millisecond),
			Topics:  lr.topics[:],
		}
		ctx, cancel := context.WithTimeout(context.Background(), pr.k.timeout)
		r, err := t.RoundTrip(ctx, pr.k.addr, &lr.req)
		expired := ctx.Err() != nil
		cancel()
		if err == nil {
			pr.answers(lr, r.(*produceAPI.Response))
			continue
		}
		for _, p := range lr.partitions {
			pr.fail(int(p.Partition), err)
		}
		if expired {
			// kafka-go's connection may still be encoding the request
			// from these buffers: leave them to it.
			pr.enc = kafkawire.NewEncoder(pr.k.codec, pr.k.headers...)
			for _, p := range lr.partitions {
				pr.readers[p.Partition] = new(bytes.Reader)
			}
			pr.requests[k] = new(leaderRequest)
		}
	}
}

// fail marks partition pt as failed in this call, for err; the call returns
// its first failure.
func (pr *producer) fail(pt int, err error) {
	pr.failed[pt] = true
	if pr.err == nil {
		pr.err = fmt.Errorf("partition %d of %q: %w", pt, pr.k.topic, err)
	}
}

// answers sorts the partitions of lr by the broker's answer.
func (pr *producer) answers(lr *leaderRequest, res *produceAPI.Response) {
	for _, p := range lr.partitions {
		pt := int(p.Partition)
		answered := false
		for _, topic := range res.Topics {
			if topic.Topic != pr.k.topic {
				continue
			}
			for _, a := range topic.Partitions {
				if int(a.Partition) != pt {
					continue
				}
				answered = true
				switch {
				case a.ErrorCode == 0:
					pr.done = append(pr.done, pr.sent[pt]...)
				case a.ErrorMessage != "":
					pr.fail(pt, fmt.Errorf("%w: %s", kafka.Error(a.ErrorCode), a.ErrorMessage))
				default:
					pr.fail(pt, kafka.Error(a.ErrorCode))
				}
			}
		}
		if !answered {
			pr.fail(pt, errNoAnswer)
		}
	}
}

var errNoAnswer = errors.New("the broker's answer does not mention the partition")

// millis is the record timestamp of t; zero means now.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return time.Now().UnixMilli()
	}
	return t.UnixMilli()
}

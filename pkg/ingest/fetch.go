package ingest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pixel-pipeline/pixel/internal/kafkawire"
)

// Fetch sizes. A response of fetchMaxBytes holds about 8 000 of our events;
// two per leader are in memory at a time (one being filled, one decoded):
// larger ones cost memory and saved nothing measurable. The broker answers
// as soon as it has fetchMinBytes, or after fetchMaxWait.
const (
	fetchMaxBytes          = 4 << 20
	fetchPartitionMaxBytes = 1 << 20
	fetchMinBytes          = 1
	fetchMaxWait           = 250 * time.Millisecond
	fetchBuffers           = 2
	fetchClientID          = "pixel-consumer"
)

// fetched is one fetch response on its way to the decoder, which gives it
// back to its fetcher once decoded.
type fetched struct {
	f    *kafkawire.Fetch
	back chan<- *kafkawire.Fetch
}

// fetchStage fetches a generation's partitions from their leaders, one
// fetcher per leader, until ctx ends. offsets holds each partition's next
// offset; it is the stage's own while it runs.
type fetchStage struct {
	in      *Ingester
	offsets map[int32]int64
	out     chan<- fetched
	stalled *stalledSet
}

// run fetches until ctx ends, restarting the fetchers from fresh metadata
// when a leader moved.
func (fs *fetchStage) run(ctx context.Context) {
	backoff := newBackoff(100*time.Millisecond, 2*time.Second)
	for ctx.Err() == nil {
		groups, err := fs.byLeader(ctx)
		if err != nil {
			fs.in.kafkaFailed(err.Error())
			backoff.wait(ctx)
			continue
		}
		var wg sync.WaitGroup
		fctx, cancel := context.WithCancel(ctx)
		results := make([][]kafkawire.FetchPartition, len(groups))
		for i, parts := range groups {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = fs.fetcher(fctx, parts)
				cancel() // a leader moved or ctx ended: every fetcher starts again
			}()
		}
		wg.Wait()
		cancel()
		for _, parts := range results {
			for _, p := range parts {
				fs.offsets[p.Partition] = p.Offset
			}
		}
		if ctx.Err() == nil {
			backoff.wait(ctx) // let the metadata catch up with the new leader
		}
	}
}

// byLeader groups the partitions by leader, from the transport's metadata.
func (fs *fetchStage) byLeader(ctx context.Context) ([][]kafkawire.FetchPartition, error) {
	mctx, cancel := context.WithTimeout(ctx, fs.in.cfg.InsertTimeout)
	defer cancel()
	md, err := fs.in.client.Metadata(mctx, &kafka.MetadataRequest{Topics: []string{fs.in.cfg.Topic}})
	if err != nil {
		return nil, fmt.Errorf("cannot read the metadata of %s: %w", fs.in.cfg.Topic, err)
	}
	leaders := map[int32]int{} // partition → leader id
	for _, t := range md.Topics {
		if t.Name != fs.in.cfg.Topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("metadata of %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			leaders[int32(p.ID)] = p.Leader.ID
		}
	}
	byID := map[int][]kafkawire.FetchPartition{}
	for p, off := range fs.offsets {
		id, ok := leaders[p]
		if !ok {
			return nil, fmt.Errorf("partition %d of %s is not in the metadata", p, fs.in.cfg.Topic)
		}
		byID[id] = append(byID[id], kafkawire.FetchPartition{Partition: p, Offset: off, MaxBytes: fetchPartitionMaxBytes})
	}
	groups := make([][]kafkawire.FetchPartition, 0, len(byID))
	for _, parts := range byID {
		sort.Slice(parts, func(i, j int) bool { return parts[i].Partition < parts[j].Partition })
		groups = append(groups, parts)
	}
	return groups, nil
}

// fetcher fetches parts from their leader until ctx ends or the leader
// moved, and returns the partitions with their next offsets. Of its
// fetchBuffers requests one is sent while the decoder reads another.
func (fs *fetchStage) fetcher(ctx context.Context, parts []kafkawire.FetchPartition) []kafkawire.FetchPartition {
	free := make(chan *kafkawire.Fetch, fetchBuffers)
	for range fetchBuffers {
		free <- fs.newFetch()
	}
	backoff := newBackoff(100*time.Millisecond, 2*time.Second)
	var next []kafkawire.FetchPartition
	for {
		var f *kafkawire.Fetch
		select {
		case <-ctx.Done():
			return parts
		case f = <-free:
		}
		f.Partitions = f.Partitions[:0]
		for _, p := range parts {
			if !fs.stalled.has(p.Partition) {
				f.Partitions = append(f.Partitions, p)
			}
		}
		if len(f.Partitions) == 0 { // every partition stalled: nothing to do until the next generation
			<-ctx.Done()
			return parts
		}
		rctx, cancel := context.WithTimeout(ctx, fetchMaxWait+fs.in.cfg.InsertTimeout)
		_, err := fs.in.transport.RoundTrip(rctx, kafka.TCP(fs.in.cfg.Brokers...), f)
		cancel()
		if err == nil && f.ErrorCode != 0 {
			err = fmt.Errorf("fetch from %s: %w", fs.in.cfg.Topic, kafka.Error(f.ErrorCode))
		}
		if err != nil {
			if ctx.Err() != nil {
				return parts
			}
			// The transport may still be writing into f: it is dropped.
			free <- fs.newFetch()
			fs.in.kafkaFailed(err.Error())
			fs.in.log.Debug().Err(err).Msg("fetch failed; retrying")
			backoff.wait(ctx)
			continue
		}
		backoff.reset()
		if !fs.in.kafka.ok.Load() {
			fs.in.kafkaReached()
		}
		// The next offsets take effect once the decoder has the response:
		// a fetcher stopped before that fetches the same records again.
		next = append(next[:0], parts...)
		reroute := false
		for i := range f.Data {
			d := &f.Data[i]
			p := indexOf(parts, d.Partition)
			switch {
			case p < 0:
			case d.ErrorCode == 0:
				next[p].Offset = kafkawire.NextOffset(d.Records, parts[p].Offset)
				if len(d.Records) > 0 && next[p].Offset == parts[p].Offset && parts[p].MaxBytes < kafkawire.MaxResponse/4 {
					// Not one whole batch fitted (brokers before 0.10.1
					// do not stretch the limit for the first batch).
					next[p].MaxBytes *= 2
				}
			case d.ErrorCode == int16(kafka.OffsetOutOfRange):
				next[p].Offset = fs.resetOffset(ctx, d.Partition, parts[p].Offset)
			case movedLeader(kafka.Error(d.ErrorCode)):
				reroute = true
			default:
				fs.in.log.Warn().Err(kafka.Error(d.ErrorCode)).Int32("partition", d.Partition).Msg("cannot fetch a partition; retrying")
			}
		}
		select {
		case fs.out <- fetched{f: f, back: free}:
			copy(parts, next)
		case <-ctx.Done():
			return parts
		}
		if reroute {
			fs.in.log.Info().Str("topic", fs.in.cfg.Topic).Msg("a partition's leader moved; fetching from the new one")
			return parts
		}
	}
}

func (fs *fetchStage) newFetch() *kafkawire.Fetch {
	return &kafkawire.Fetch{
		ClientID: fetchClientID,
		Topic:    fs.in.cfg.Topic,
		MaxWait:  fetchMaxWait,
		MinBytes: fetchMinBytes,
		MaxBytes: fetchMaxBytes,
	}
}

// resetOffset answers OFFSET_OUT_OF_RANGE: the records at offset are gone
// (retention) or the topic was recreated. The partition starts again at its
// first offset, as a new group does.
func (fs *fetchStage) resetOffset(ctx context.Context, partition int32, offset int64) int64 {
	first, err := fs.in.firstOffsets(ctx, []int32{partition})
	if err != nil {
		fs.in.log.Warn().Err(err).Int32("partition", partition).Msg("offset out of range and cannot read the first offset; retrying")
		return offset
	}
	fs.in.log.Warn().Int32("partition", partition).Int64("offset", offset).Int64("first_offset", first[partition]).
		Msg("offset out of range (records deleted by retention, or the topic recreated): starting again at the partition's first offset")
	return first[partition]
}

// firstOffsets lists the first offset of each partition.
func (in *Ingester) firstOffsets(ctx context.Context, partitions []int32) (map[int32]int64, error) {
	reqs := make([]kafka.OffsetRequest, len(partitions))
	for i, p := range partitions {
		reqs[i] = kafka.FirstOffsetOf(int(p))
	}
	lctx, cancel := context.WithTimeout(ctx, in.cfg.InsertTimeout)
	defer cancel()
	resp, err := in.client.ListOffsets(lctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{in.cfg.Topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("cannot list the first offsets of %s: %w", in.cfg.Topic, err)
	}
	out := make(map[int32]int64, len(partitions))
	for _, po := range resp.Topics[in.cfg.Topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("cannot list the first offset of %s partition %d: %w", in.cfg.Topic, po.Partition, po.Error)
		}
		out[int32(po.Partition)] = po.FirstOffset
	}
	for _, p := range partitions {
		if _, ok := out[p]; !ok {
			return nil, fmt.Errorf("no first offset for %s partition %d", in.cfg.Topic, p)
		}
	}
	return out, nil
}

func movedLeader(err kafka.Error) bool {
	switch err {
	case kafka.NotLeaderForPartition, kafka.LeaderNotAvailable, kafka.UnknownTopicOrPartition,
		kafka.FencedLeaderEpoch, kafka.UnknownLeaderEpoch, kafka.ReplicaNotAvailable, kafka.KafkaStorageError:
		return true
	}
	return false
}

func indexOf(parts []kafkawire.FetchPartition, partition int32) int {
	for i := range parts {
		if parts[i].Partition == partition {
			return i
		}
	}
	return -1
}

// stalledSet holds the partitions of a generation whose records cannot be
// decoded: they are fetched no more, so that nothing after the bad batch is
// committed, until the next generation tries again.
type stalledSet struct {
	mu sync.Mutex
	m  map[int32]error
}

func (s *stalledSet) has(p int32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[p]
	return ok
}

func (s *stalledSet) add(p int32, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[int32]error{}
	}
	s.m[p] = err
}

// err describes the stalled partitions, or is nil.
func (s *stalledSet) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for p, err := range s.m {
		errs = append(errs, fmt.Errorf("partition %d: %w", p, err))
	}
	return errors.Join(errs...)
}

// backoff waits from min doubling to max between attempts.
type backoff struct{ min, max, next time.Duration }

func newBackoff(min, max time.Duration) *backoff { return &backoff{min: min, max: max, next: min} }

func (b *backoff) reset() { b.next = b.min }

func (b *backoff) wait(ctx context.Context) {
	t := time.NewTimer(b.next)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	b.next = min(2*b.next, b.max)
}

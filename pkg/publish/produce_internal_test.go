package publish

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/pixel-pipeline/pixel/pkg/spool"
)

// failingCodec cannot compress anything.
type failingCodec struct{}

func (failingCodec) Code() int8                          { return 1 }
func (failingCodec) Name() string                        { return "failing" }
func (failingCodec) NewReader(r io.Reader) io.ReadCloser { return io.NopCloser(r) }
func (failingCodec) NewWriter(io.Writer) io.WriteCloser  { return failingWriter{} }

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("cannot compress") }
func (failingWriter) Close() error              { return nil }

// TestProduceReportsEncodingFailure: a record batch that cannot be encoded
// fails produce, which must not report success for records it did not send.
func TestProduceReportsEncodingFailure(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "events"))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	defer c.Close()
	k := newKafkaClient(Config{Brokers: c.ListenAddrs(), Topic: "events", WriteTimeout: 5 * time.Second, BatchBytes: 1 << 20}, failingCodec{}, nil)
	defer k.close()
	recs := []spool.Record{{Key: []byte("a"), Value: []byte("v")}}
	done, err := newProducer(k).produce(recs, []int32{0})
	if err == nil || len(done) != 0 {
		t.Fatalf("produce with a codec that fails: %d acknowledged, error %v; want none and an error", len(done), err)
	}
}

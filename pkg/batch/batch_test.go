package batch

import (
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func TestFull(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy Policy
		sizes  []int // one message each
		want   bool
	}{
		{"empty", Policy{MaxRows: 3, MaxBytes: 100, MaxAge: time.Second}, nil, false},
		{"below both limits", Policy{MaxRows: 3, MaxBytes: 100, MaxAge: time.Second}, []int{10, 10}, false},
		{"rows reached", Policy{MaxRows: 3, MaxBytes: 100, MaxAge: time.Second}, []int{1, 1, 1}, true},
		{"bytes reached exactly", Policy{MaxRows: 3, MaxBytes: 100, MaxAge: time.Second}, []int{60, 40}, true},
		{"bytes passed by one large message", Policy{MaxRows: 3, MaxBytes: 100, MaxAge: time.Second}, []int{500}, true},
		{"default policy, one message", DefaultPolicy(), []int{300}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := New(tc.policy)
			for i, size := range tc.sizes {
				b.Add(0, int64(i), size, t0)
			}
			if got := b.Full(); got != tc.want {
				t.Fatalf("Full() = %v after %v with %+v, want %v", got, tc.sizes, tc.policy, tc.want)
			}
			if tc.want && !b.Due(t0) {
				t.Fatal("a full batch is not due")
			}
		})
	}
}

func TestDueByAge(t *testing.T) {
	b := New(Policy{MaxRows: 1000, MaxBytes: 1 << 20, MaxAge: time.Second})
	if b.Due(t0.Add(time.Hour)) {
		t.Fatal("an empty batch is due")
	}
	if _, ok := b.Deadline(); ok {
		t.Fatal("an empty batch has a deadline")
	}
	b.Add(0, 1, 10, t0)
	b.Add(0, 2, 10, t0.Add(900*time.Millisecond)) // later messages do not move the deadline
	if d, ok := b.Deadline(); !ok || !d.Equal(t0.Add(time.Second)) {
		t.Fatalf("Deadline() = %v, %v; want first message + MaxAge", d, ok)
	}
	for _, tc := range []struct {
		at   time.Duration
		want bool
	}{
		{0, false},
		{999 * time.Millisecond, false},
		{time.Second, true},
		{time.Minute, true},
	} {
		if got := b.Due(t0.Add(tc.at)); got != tc.want {
			t.Errorf("Due(first+%v) = %v, want %v", tc.at, got, tc.want)
		}
	}
	if age := b.Age(t0.Add(1500 * time.Millisecond)); age != 1500*time.Millisecond {
		t.Errorf("Age = %v, want 1.5s", age)
	}
}

func TestRanges(t *testing.T) {
	b := New(DefaultPolicy())
	if r := b.Ranges(); len(r) != 0 {
		t.Fatalf("Ranges of an empty batch = %v", r)
	}
	for _, m := range []struct {
		partition int
		offset    int64
	}{
		{2, 100}, {0, 7}, {2, 101}, {1, 50}, {2, 105}, {0, 8},
	} {
		b.Add(m.partition, m.offset, 10, t0)
	}
	want := []Range{
		{Partition: 0, First: 7, Last: 8},
		{Partition: 1, First: 50, Last: 50},
		{Partition: 2, First: 100, Last: 105},
	}
	if got := b.Ranges(); !slices.Equal(got, want) {
		t.Fatalf("Ranges() = %+v, want %+v", got, want)
	}
	if b.Rows() != 6 || b.Bytes() != 60 || b.Empty() {
		t.Fatalf("Rows %d, Bytes %d, Empty %v", b.Rows(), b.Bytes(), b.Empty())
	}
}

func TestReset(t *testing.T) {
	b := New(Policy{MaxRows: 2, MaxBytes: 100, MaxAge: time.Second})
	b.Add(0, 1, 60, t0)
	b.Add(1, 9, 60, t0)
	if !b.Full() {
		t.Fatal("not full before Reset")
	}
	b.Reset()
	if !b.Empty() || b.Rows() != 0 || b.Bytes() != 0 || b.Full() || b.Due(t0.Add(time.Hour)) || len(b.Ranges()) != 0 || b.Age(t0.Add(time.Hour)) != 0 {
		t.Fatalf("after Reset: rows %d, bytes %d, full %v, ranges %v", b.Rows(), b.Bytes(), b.Full(), b.Ranges())
	}
	// The next batch starts its own clock and ranges.
	later := t0.Add(time.Hour)
	b.Add(1, 10, 5, later)
	if d, _ := b.Deadline(); !d.Equal(later.Add(time.Second)) {
		t.Fatalf("deadline after Reset = %v, want %v", d, later.Add(time.Second))
	}
	if got := b.Ranges(); !slices.Equal(got, []Range{{Partition: 1, First: 10, Last: 10}}) {
		t.Fatalf("Ranges after Reset = %+v", got)
	}
}

func TestDefaultPolicy(t *testing.T) {
	p := DefaultPolicy()
	if p.MaxRows != 25_000 || p.MaxBytes != 16<<20 || p.MaxAge != 500*time.Millisecond {
		t.Fatalf("DefaultPolicy() = %+v, want the documented 25000 rows, 16 MiB, 500ms", p)
	}
}

func TestToken(t *testing.T) {
	add := func(b *Batch, msgs ...[2]int64) *Batch {
		for _, m := range msgs {
			b.Add(int(m[0]), m[1], 10, t0)
		}
		return b
	}
	b := add(New(DefaultPolicy()), [2]int64{3, 7}, [2]int64{0, 100}, [2]int64{3, 8}, [2]int64{0, 101}, [2]int64{12, 0}, [2]int64{3, 9})
	const want = "pixel.events/0:100-101/3:7-9/12:0-0"
	if got := b.Token("pixel.events"); got != want {
		t.Fatalf("Token = %q, want %q", got, want)
	}
	// The order in which partitions arrived does not matter.
	other := add(New(DefaultPolicy()), [2]int64{12, 0}, [2]int64{3, 7}, [2]int64{0, 100}, [2]int64{3, 9}, [2]int64{0, 101})
	if got := other.Token("pixel.events"); got != want {
		t.Fatalf("Token after another arrival order = %q, want %q", got, want)
	}
	// Asking again, as every retry does, gives the same token.
	if got := b.Token("pixel.events"); got != want {
		t.Fatalf("second Token = %q", got)
	}

	// Every difference in topic, partition or offsets gives another token.
	seen := map[string]string{want: "base"}
	for name, tok := range map[string]string{
		"other topic":     b.Token("pixel.events2"),
		"one more offset": add(New(DefaultPolicy()), [2]int64{0, 100}, [2]int64{0, 102}, [2]int64{3, 7}, [2]int64{3, 9}, [2]int64{12, 0}).Token("pixel.events"),
		"later first":     add(New(DefaultPolicy()), [2]int64{0, 101}, [2]int64{3, 7}, [2]int64{3, 9}, [2]int64{12, 0}).Token("pixel.events"),
		"other partition": add(New(DefaultPolicy()), [2]int64{1, 100}, [2]int64{1, 101}, [2]int64{3, 7}, [2]int64{3, 9}, [2]int64{12, 0}).Token("pixel.events"),
		"digits shifted":  add(New(DefaultPolicy()), [2]int64{0, 100}, [2]int64{0, 101}, [2]int64{3, 7}, [2]int64{3, 9}, [2]int64{1, 20}).Token("pixel.events"),
	} {
		if prev, dup := seen[tok]; dup {
			t.Errorf("%s and %s share the token %q", name, prev, tok)
		}
		seen[tok] = name
	}

	// After Reset the next batch has its own token.
	b.Reset()
	if got := add(b, [2]int64{0, 102}).Token("pixel.events"); got != "pixel.events/0:102-102" {
		t.Fatalf("Token after Reset = %q", got)
	}
}

// Skipped offsets (transaction markers) are covered and committed with the
// batch without counting as messages; a batch of them alone ages like any.
func TestSkip(t *testing.T) {
	b := New(Policy{MaxRows: 2, MaxBytes: 100, MaxAge: time.Second})
	b.Skip(4, 10, t0)
	if b.Empty() || b.Rows() != 0 || b.Full() {
		t.Fatalf("after a skip: empty %v, rows %d, full %v", b.Empty(), b.Rows(), b.Full())
	}
	if d, ok := b.Deadline(); !ok || !d.Equal(t0.Add(time.Second)) {
		t.Fatalf("Deadline() = %v, %v; want the skip's time + MaxAge", d, ok)
	}
	b.Add(4, 11, 5, t0.Add(time.Millisecond))
	b.Skip(4, 12, t0)
	b.Add(2, 3, 5, t0)
	if got := b.Ranges(); !slices.Equal(got, []Range{{Partition: 2, First: 3, Last: 3}, {Partition: 4, First: 10, Last: 12}}) {
		t.Fatalf("Ranges() = %+v", got)
	}
	if b.Rows() != 2 || !b.Full() {
		t.Fatalf("rows %d, full %v", b.Rows(), b.Full())
	}
}

func TestAddAllocatesNothing(t *testing.T) {
	b := New(DefaultPolicy())
	b.Add(0, 0, 1, t0)
	b.Add(1, 0, 1, t0)
	allocs := testing.AllocsPerRun(1000, func() {
		b.Add(0, 1, 1, t0)
		b.Add(1, 1, 1, t0)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Add", allocs)
	}
}

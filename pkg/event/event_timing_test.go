package event

import "testing"

func BenchmarkAppendJSON(b *testing.B) {
	e := fullEvent()
	buf := AppendJSON(nil, e)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendJSON(buf[:0], e)
	}
}

func BenchmarkParse(b *testing.B) {
	data := AppendJSON(nil, fullEvent())
	var e Event
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Parse(data, &e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseEscaped is a message whose strings all need unescaping.
func BenchmarkParseEscaped(b *testing.B) {
	e := fullEvent()
	e.URL = []byte("https://shop.example/\"search\"?q=caf\u00e9\n")
	e.UserAgent = []byte("Mozilla/5.0 \"quoted\"\t")
	data := AppendJSON(nil, e)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Parse(data, e); err != nil {
			b.Fatal(err)
		}
	}
}

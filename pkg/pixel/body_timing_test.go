package pixel

import (
	"strings"
	"testing"
)

// purchaseBody is the JS tag's purchase, as BenchmarkCollectHandler sends it.
const purchaseBody = `{"id":"px1","ev":"Purchase","eid":"o-1","dl":"https://shop.example/checkout","rl":"https://www.google.com/",` +
	`"ts":1767268799123,"cd":{"value":"19.90","currency":"eur","order_id":"o-1","content_ids":["sku-1","sku-2"],"coupon":"WINTER"}}`

// benchmarkParseBody checks and reads every event of body, as the /collect
// handler does, without the HTTP around it.
func benchmarkParseBody(b *testing.B, body string) {
	data := []byte(body)
	lim := DefaultLimits()
	h := new(Hit)
	var bd Body
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := bd.Reset(data, lim.MaxBatchEvents); err != nil {
			b.Fatal(err)
		}
		for bd.Len() > 0 {
			h.resetEvent()
			if err := bd.Next(h, &lim, testNow); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkParseBody is one purchase event.
func BenchmarkParseBody(b *testing.B) { benchmarkParseBody(b, purchaseBody) }

// BenchmarkParseBodyBatch10 is ten purchase events in one array; ns/op is per body.
func BenchmarkParseBodyBatch10(b *testing.B) {
	benchmarkParseBody(b, "["+strings.TrimSuffix(strings.Repeat(purchaseBody+",", 10), ",")+"]")
}

// BenchmarkParseBodyEscaped is one event whose strings need unescaping.
func BenchmarkParseBodyEscaped(b *testing.B) {
	benchmarkParseBody(b, `{"id":"px1","ev":"Purchase","dl":"https:\/\/shop.example\/\"search\"?q=caf\u00e9\n","rl":"\ud83d\ude00",`+
		`"cd":{"value":19.9,"content_ids":["a\"b","c\\d"],"note":"line\none"}}`)
}

// Package chstoretest holds test fixtures of the rows chstore stores, for
// the tests and benchmarks of chstore and of the packages that feed it.
package chstoretest

import "github.com/pixel-pipeline/pixel/pkg/event"

// ShopEvents are what a shop's pixel sends most: page views of returning
// and new visitors, a product view, a cart and a purchase with content ids
// and custom properties. Each call returns fresh copies.
func ShopEvents() []event.Event {
	b := func(s string) []byte { return []byte(s) }
	ua := b("Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Mobile/15E148 Safari/604.1")
	return []event.Event{
		{EventID: b("01a21bf6-d56d-74e3-925c-612785c086ff"), PixelID: b("demo"), VisitorID: b("sc8cPxnWCqTSehxeTpAuZA"), SessionID: b("xchQpZBz47djqMjBrN2alA"),
			Name: b("PageView"), TS: 1_795_765_491, ReceivedAt: 1_795_765_492, URL: b("https://shop.example.com/collections/new-arrivals"),
			Referrer: b("https://www.google.com/"), IP: b("203.0.113.7"), UserAgent: ua},
		{EventID: b("01a21bf6-d56d-74e3-925c-612785c08700"), PixelID: b("demo"), VisitorID: b("K2f8dLq0ZrT5wXy1Abc9Qe"), SessionID: b("Pq1Rz8Ty5Uv2Wx3Yz4Ab5C"),
			Name: b("PageView"), TS: 1_795_765_493, ReceivedAt: 1_795_765_493, URL: b("https://shop.example.com/?utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale_2026"),
			IP: b("2001:db8::4b1e:9a2c"), UserAgent: b("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Safari/537.36")},
		{EventID: b("01a21bf6-d56d-74e3-925c-612785c08701"), PixelID: b("demo"), VisitorID: b("sc8cPxnWCqTSehxeTpAuZA"), SessionID: b("xchQpZBz47djqMjBrN2alA"),
			Name: b("ViewContent"), TS: 1_795_765_501, ReceivedAt: 1_795_765_502, URL: b("https://shop.example.com/products/sch%C3%B6ne-tasse-steingut"),
			Value: 24.9, Currency: b("EUR"), ContentIDs: [][]byte{b("SKU-20931")}, IP: b("203.0.113.7"), UserAgent: ua,
			Props: b(`{"content_type":"product","page_type":"product"}`)},
		{EventID: b("01a21bf6-d56d-74e3-925c-612785c08702"), PixelID: b("demo"), VisitorID: b("sc8cPxnWCqTSehxeTpAuZA"), SessionID: b("xchQpZBz47djqMjBrN2alA"),
			Name: b("AddToCart"), TS: 1_795_765_520, ReceivedAt: 1_795_765_520, URL: b("https://shop.example.com/products/sch%C3%B6ne-tasse-steingut"),
			Value: 24.9, Currency: b("EUR"), ContentIDs: [][]byte{b("SKU-20931")}, IP: b("203.0.113.7"), UserAgent: ua,
			Props: b(`{"content_type":"product"}`)},
		{EventID: b("01a21bf6-d56d-74e3-925c-612785c08703"), PixelID: b("demo"), VisitorID: b("sc8cPxnWCqTSehxeTpAuZA"), SessionID: b("xchQpZBz47djqMjBrN2alA"),
			Name: b("Purchase"), TS: 1_795_765_611, ReceivedAt: 1_795_765_612, URL: b("https://shop.example.com/checkout/thank-you"),
			Referrer: b("https://shop.example.com/checkout"), Value: 74.8, Currency: b("EUR"), OrderID: b("482913377"),
			ContentIDs: [][]byte{b("SKU-20931"), b("SKU-33107"), b("SKU-10482")}, IP: b("203.0.113.7"), UserAgent: ua,
			Props: b(`{"coupon":"SPRING10","num_items":"3","content_type":"product"}`)},
	}
}

// Package loadgen is the pipeline's own load generator: it sends realistic,
// deterministic pixel traffic (browsers with cookies, conversions, bad hits)
// to a collector at a constant rate or as fast as it can, and measures
// latency the way wrk2 does, from each request's scheduled send time.
//
// Run drives one bounded load test and returns a Result; Generator produces
// the same hits without sending them, for tests that need to know exactly
// what was (or would be) sent. Histogram is the fixed-memory latency
// histogram both use.
//
// Each worker owns one keep-alive connection and speaks HTTP/1.1 with
// fasthttp's request and response codec, so nothing runs in the background
// once Run returns and a cancelled context aborts requests in flight.
package loadgen

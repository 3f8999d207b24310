// Package promtext scrapes a Prometheus text endpoint, such as the
// collector's and consumer's admin /metrics, into a map from series to
// value. It understands what pkg/metrics writes: one sample per line,
// comments starting with #.
package promtext

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Samples maps a series as written, e.g. `pixel_hits_total{outcome="accepted"}`,
// to its value.
type Samples map[string]float64

// Get returns the value of series and whether it was there.
func (s Samples) Get(series string) (float64, bool) {
	v, ok := s[series]
	return v, ok
}

// Sum adds up every series of the metric name, whatever its labels.
func (s Samples) Sum(name string) float64 {
	var sum float64
	for series, v := range s {
		if series == name || strings.HasPrefix(series, name+"{") {
			sum += v
		}
	}
	return sum
}

// Parse reads the text format.
func Parse(r io.Reader) (Samples, error) {
	out := Samples{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("promtext: cannot parse line %q", line)
		}
		series, value := strings.TrimSpace(line[:i]), line[i+1:]
		// A sample may carry a timestamp after the value.
		if j := strings.LastIndexByte(series, ' '); j > 0 && !strings.ContainsRune(series[j:], '}') {
			series, value = strings.TrimSpace(series[:j]), series[j+1:]
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("promtext: cannot parse the value of %q: %w", line, err)
		}
		out[series] = v
	}
	return out, sc.Err()
}

var client = &http.Client{Timeout: 2 * time.Second}

// Scrape fetches url and parses it.
func Scrape(ctx context.Context, url string) (Samples, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("cannot scrape %s: status %s", url, resp.Status)
	}
	return Parse(resp.Body)
}

package dataset

import "testing"

func TestLike(t *testing.T) {
	for _, tt := range []struct {
		s, pattern string
		want       bool
	}{
		{"", "", true}, {"", "%", true}, {"", "_", false}, {"a", "", false},
		{"https://shop/product/sku-101", "%/product/sku-10_", true},
		{"https://shop/product/sku-1010", "%/product/sku-10_", false},
		{"https://shop/product/sku-10", "%/product/sku-10_", false},
		{"https://shop/?utm_campaign=brand&x=1", "%utm_campaign=brand%", true},
		{"abc", "a%c", true}, {"ac", "a%c", true}, {"abd", "a%c", false},
		{"abc", "%%", true}, {"abc", "___", true}, {"abc", "__", false}, {"ABC", "abc", false},
	} {
		if got := like(tt.s, tt.pattern); got != tt.want {
			t.Errorf("like(%q, %q) = %v, want %v", tt.s, tt.pattern, got, tt.want)
		}
	}
}

func TestGoalSeconds(t *testing.T) {
	for _, tt := range []struct {
		props   string
		seconds int
		want    bool
	}{
		{"", 60, true}, {"{}", 60, true}, {`{"other":1}`, 60, true}, {"not json", 60, true},
		{`{"seconds":60}`, 60, true}, {`{"seconds":59.5}`, 60, false}, {`{"seconds":"90"}`, 60, true},
		{`{"seconds":"x"}`, 60, false}, {`{"seconds":"x"}`, 0, true}, {`{"seconds":10}`, 10, true},
	} {
		if got := goalSeconds(tt.props, tt.seconds); got != tt.want {
			t.Errorf("goalSeconds(%q, %d) = %v, want %v", tt.props, tt.seconds, got, tt.want)
		}
	}
}

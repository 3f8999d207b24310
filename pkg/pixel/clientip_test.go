package pixel

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		in          string
		trusted     []string
		notTrusted  []string
		errContains string // "" = no error
	}{
		{in: "", notTrusted: []string{"10.0.0.1", "127.0.0.1", "::1"}},
		{in: " , ,", notTrusted: []string{"10.0.0.1"}},
		{in: "10.0.0.0/8", trusted: []string{"10.0.0.0", "10.255.255.255", "::ffff:10.1.2.3"}, notTrusted: []string{"11.0.0.0", "9.255.255.255"}},
		{in: "10.0.0.0/8, 192.168.1.10", trusted: []string{"10.1.1.1", "192.168.1.10"}, notTrusted: []string{"192.168.1.11"}},
		{in: "10.1.2.3/8", trusted: []string{"10.200.0.1"}}, // host bits are masked
		{in: "::ffff:192.168.1.10", trusted: []string{"192.168.1.10"}, notTrusted: []string{"192.168.1.11"}},
		{in: "2001:db8::/32,::1", trusted: []string{"2001:db8:1::1", "::1"}, notTrusted: []string{"2001:db9::1", "127.0.0.1"}},
		{in: "0.0.0.0/0", trusted: []string{"1.2.3.4", "203.0.113.7"}, notTrusted: []string{"2001:db8::1"}},
		{in: "proxy.internal", errContains: `"proxy.internal"`},
		{in: "10.0.0.0/33", errContains: `"10.0.0.0/33"`},
		{in: "10.0.0.1, 10.0.0.256", errContains: "10.0.0.256"},
		{in: "10.0.0.0/8/8", errContains: "CIDR"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			tp, err := ParseTrustedProxies(tc.in)
			if tc.errContains != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errContains) || !strings.Contains(err.Error(), "CIDR prefix such as") {
					t.Fatalf("ParseTrustedProxies(%q) error = %v, want one naming %s and saying what is wanted", tc.in, err, tc.errContains)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTrustedProxies(%q): %v", tc.in, err)
			}
			for _, a := range tc.trusted {
				if !tp.trusted(netip.MustParseAddr(a)) {
					t.Errorf("%s is not trusted", a)
				}
			}
			for _, a := range tc.notTrusted {
				if tp.trusted(netip.MustParseAddr(a)) {
					t.Errorf("%s is trusted", a)
				}
			}
		})
	}
}

func TestClientIP(t *testing.T) {
	tp, err := ParseTrustedProxies("10.0.0.0/8, 2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tp   TrustedProxies
		peer string
		xff  []string // header lines
		want string
	}{
		{"nobody trusted", TrustedProxies{}, "203.0.113.7", []string{"1.1.1.1"}, "203.0.113.7"},
		{"untrusted peer sends a header", tp, "198.51.100.9", []string{"1.1.1.1"}, "198.51.100.9"},
		{"untrusted peer claims to be a trusted proxy", tp, "198.51.100.9", []string{"203.0.113.7, 10.0.0.2"}, "198.51.100.9"},
		{"trusted peer, no header", tp, "10.0.0.1", nil, "10.0.0.1"},
		{"trusted peer, empty header", tp, "10.0.0.1", []string{""}, "10.0.0.1"},
		{"one hop", tp, "10.0.0.1", []string{"203.0.113.7"}, "203.0.113.7"},
		{"spoofed entries left of the client", tp, "10.0.0.1", []string{"1.1.1.1, 2.2.2.2, 203.0.113.7"}, "203.0.113.7"},
		{"trusted hops are skipped", tp, "10.0.0.1", []string{"1.1.1.1, 203.0.113.7, 10.9.9.9, 10.8.8.8"}, "203.0.113.7"},
		{"spaces and no spaces", tp, "10.0.0.1", []string{" 203.0.113.7 ,10.9.9.9 "}, "203.0.113.7"},
		{"only trusted hops: the leftmost", tp, "10.0.0.1", []string{"10.3.3.3, 10.2.2.2"}, "10.3.3.3"},
		{"malformed entry on the right stops at the last trusted hop", tp, "10.0.0.1", []string{"203.0.113.7, garbage"}, "10.0.0.1"},
		{"malformed entry after a trusted hop", tp, "10.0.0.1", []string{"203.0.113.7, junk, 10.2.2.2"}, "10.2.2.2"},
		{"malformed entry left of the client is never read", tp, "10.0.0.1", []string{"junk, 203.0.113.7"}, "203.0.113.7"},
		{"entry with a port is malformed", tp, "10.0.0.1", []string{"203.0.113.7:4711"}, "10.0.0.1"},
		{"empty entry is malformed", tp, "10.0.0.1", []string{"203.0.113.7,,"}, "10.0.0.1"},
		{"client header line before the proxy's line", tp, "10.0.0.1", []string{"6.6.6.6", "203.0.113.7"}, "203.0.113.7"},
		{"trusted hop on its own line", tp, "10.0.0.1", []string{"203.0.113.7", "10.2.2.2"}, "203.0.113.7"},
		{"IPv6 client", tp, "2001:db8::1", []string{"2a00:1450::68"}, "2a00:1450::68"},
		{"IPv4-mapped client is unmapped", tp, "10.0.0.1", []string{"::ffff:203.0.113.7"}, "203.0.113.7"},
		{"IPv4-mapped peer", tp, "::ffff:10.0.0.1", []string{"203.0.113.7"}, "203.0.113.7"},
		{"IPv4-mapped untrusted peer is unmapped", TrustedProxies{}, "::ffff:203.0.113.7", nil, "203.0.113.7"},
		{"zone in the client entry is malformed", tp, "10.0.0.1", []string{"fe80::1%<img src=x onerror=alert(1)>"}, "10.0.0.1"},
		{"zone after a trusted hop", tp, "10.0.0.1", []string{"fe80::1%eth0, 10.2.2.2"}, "10.2.2.2"},
		{"long zone", tp, "10.0.0.1", []string{"fe80::1%" + strings.Repeat("z", 8<<10)}, "10.0.0.1"},
		{"empty zone", tp, "10.0.0.1", []string{"fe80::1%"}, "10.0.0.1"},
		{"zone on an IPv4-mapped entry", tp, "10.0.0.1", []string{"::ffff:10.2.2.2%eth0"}, "10.0.0.1"},
		{"zone left of the client is never read", tp, "10.0.0.1", []string{"fe80::1%eth0, 203.0.113.7"}, "203.0.113.7"},
		{"zone of an untrusted peer is dropped", TrustedProxies{}, "fe80::1%eth0", nil, "fe80::1"},
		{"zone of a trusted peer is dropped", tp, "2001:db8::1%eth0", []string{"203.0.113.7"}, "203.0.113.7"},
		{"zone of a trusted peer without a header", tp, "2001:db8::1%eth0", nil, "2001:db8::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var xff [][]byte
			for _, l := range tc.xff {
				xff = append(xff, []byte(l))
			}
			got := tc.tp.ClientIP(netip.MustParseAddr(tc.peer), xff...)
			if got.String() != tc.want {
				t.Fatalf("ClientIP(%s, %q) = %s, want %s", tc.peer, tc.xff, got, tc.want)
			}
		})
	}
	if got := tp.ClientIP(netip.Addr{}, []byte("203.0.113.7")); got.IsValid() {
		t.Fatalf("ClientIP of no peer = %s, want the invalid address", got)
	}
}

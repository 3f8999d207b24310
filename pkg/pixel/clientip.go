package pixel

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
)

// TrustedProxies are the addresses whose X-Forwarded-For header is believed.
// The zero value trusts nobody: the client IP is the connection's peer.
type TrustedProxies struct {
	prefixes []netip.Prefix
}

// ParseTrustedProxies parses a comma-separated list of IPs and CIDR prefixes
// ("10.0.0.0/8,192.168.1.10"). An empty string trusts nobody.
func ParseTrustedProxies(s string) (TrustedProxies, error) {
	var t TrustedProxies
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return t, fmt.Errorf("cannot parse trusted proxy %q: %w; want an IP or a CIDR prefix such as 10.0.0.0/8", f, err)
			}
			t.prefixes = append(t.prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return t, fmt.Errorf("cannot parse trusted proxy %q: %w; want an IP or a CIDR prefix such as 10.0.0.0/8", f, err)
		}
		t.prefixes = append(t.prefixes, p.Masked())
	}
	return t, nil
}

func (t TrustedProxies) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the client's address. When the peer is a trusted proxy, the
// X-Forwarded-For values are walked from the right (the entry our proxy
// appended) and the first address that is not itself a trusted proxy is the
// client. xff holds the header's lines in the order received: a proxy may
// append its own line after one the client sent, so all of them count, the
// last one first. Malformed entries stop the walk at the last trusted hop.
//
// The result never has an IPv6 zone, so that its text is only an address.
// An entry with a zone ("fe80::1%eth0") is malformed: a zone names an
// interface of the host that wrote it, means nothing here, and its text is
// whatever the sender chose ("fe80::1%<script>", 8 KB of it). The peer's
// zone, if any, is dropped.
func (t TrustedProxies) ClientIP(peer netip.Addr, xff ...[]byte) netip.Addr {
	peer = peer.Unmap().WithZone("")
	if len(t.prefixes) == 0 || !t.trusted(peer) {
		return peer
	}
	client := peer
	for i := len(xff) - 1; i >= 0; i-- {
		list := xff[i]
		for len(list) > 0 {
			var entry []byte
			if j := bytes.LastIndexByte(list, ','); j >= 0 {
				entry, list = list[j+1:], list[:j]
			} else {
				entry, list = list, nil
			}
			a, ok := parseEntry(entry)
			if !ok {
				return client
			}
			client = a.Unmap()
			if !t.trusted(client) {
				return client
			}
		}
	}
	return client
}

// parseEntry parses one X-Forwarded-For entry: an IPv4 or IPv6 address
// between optional spaces, without a port or a zone. The zone is refused
// before netip sees it, which would intern its text (an allocation the
// sender controls).
func parseEntry(entry []byte) (netip.Addr, bool) {
	entry = bytes.TrimSpace(entry)
	if bytes.IndexByte(entry, '%') >= 0 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(b2s(entry))
	return a, err == nil
}

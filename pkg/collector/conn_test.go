package collector_test

import (
	"bytes"
	"net"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// memConn is an in-memory connection for fasthttp.Server.ServeConn: requests
// are read from r, responses written to w. As in fasthttp's own
// allocation_test.go, it lets a test run the whole request path (parse,
// handler, response) without a socket.
type memConn struct {
	net.Conn // methods not below are not used by ServeConn

	r, w bytes.Buffer
}

var (
	clientAddr = &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 50123}
	serverAddr = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 8080}
)

func (c *memConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c *memConn) Write(b []byte) (int, error)      { return c.w.Write(b) }
func (c *memConn) Close() error                     { return nil }
func (c *memConn) RemoteAddr() net.Addr             { return clientAddr }
func (c *memConn) LocalAddr() net.Addr              { return serverAddr }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// connServer serves requests written to one memConn with handler.
type connServer struct {
	srv  *fasthttp.Server
	conn *memConn
}

func newConnServer(handler fasthttp.RequestHandler) *connServer {
	s := &connServer{
		srv:  &fasthttp.Server{Handler: handler, NoDefaultServerHeader: true, NoDefaultContentType: true},
		conn: new(memConn),
	}
	s.conn.r.Grow(4096)
	s.conn.w.Grow(4096)
	return s
}

// serve answers one raw request; the response is in s.conn.w until the next call.
func (s *connServer) serve(rawRequest string) error {
	s.conn.w.Reset()
	s.conn.r.WriteString(rawRequest)
	return s.srv.ServeConn(s.conn)
}

// rawGET is a GET request for uri with the headers a browser sends along with
// an image, and the given extra header lines.
func rawGET(uri string, extra ...string) string {
	raw := "GET " + uri + " HTTP/1.1\r\n" +
		"Host: px.shop.example\r\n" +
		"User-Agent: " + browserUA + "\r\n" +
		"Accept: image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5\r\n" +
		"Accept-Language: en-US,en;q=0.5\r\n" +
		"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
		"Referer: https://shop.example/checkout\r\n" +
		"Sec-Fetch-Dest: image\r\nSec-Fetch-Mode: no-cors\r\nSec-Fetch-Site: same-site\r\n"
	for _, h := range extra {
		raw += h + "\r\n"
	}
	return raw + "\r\n"
}

// rawPOST is a POST request for uri with the headers a browser sends along
// with a beacon, and the given extra header lines.
func rawPOST(uri, contentType, body string, extra ...string) string {
	raw := "POST " + uri + " HTTP/1.1\r\n" +
		"Host: px.shop.example\r\n" +
		"User-Agent: " + browserUA + "\r\n" +
		"Accept: */*\r\n" +
		"Accept-Language: en-US,en;q=0.5\r\n" +
		"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
		"Referer: https://shop.example/checkout\r\n" +
		"Content-Type: " + contentType + "\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		"Sec-Fetch-Dest: empty\r\nSec-Fetch-Mode: no-cors\r\nSec-Fetch-Site: same-site\r\n"
	for _, h := range extra {
		raw += h + "\r\n"
	}
	return raw + "\r\n" + body
}

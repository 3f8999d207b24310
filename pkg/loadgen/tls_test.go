package loadgen_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/loadgen"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// An https target (a staging collector behind TLS) works with the CA the
// caller trusts.
func TestHTTPSTarget(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "loadgen test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true,

		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) { ctx.Response.SetBodyRaw(pixel.GIF) },
		Logger:  quiet{}, // the refused handshakes below are expected
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ServeTLSEmbed(ln, certPEM, keyPEM)
	}()
	defer func() { _ = srv.Shutdown(); <-done }()

	cfg := loadgen.DefaultConfig()
	cfg.Target = "https://" + ln.Addr().String()
	cfg.Connections = 2
	cfg.MaxRequests = 100
	res, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors.Other != 100 {
		t.Errorf("an untrusted certificate: errors %+v, status %v", res.Errors, res.Status)
	}

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	cfg.TLSConfig = &tls.Config{RootCAs: pool}
	res = run(t, context.Background(), cfg)
	if res.Status[200] != 100 {
		t.Errorf("status %v, errors %+v", res.Status, res.Errors)
	}
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}

package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

// The console's own files and, under assets/vendor/, what `make build`
// copies from the npm packages of pkg/console/web (never committed). The
// console serves them itself: it works on a closed network.
//
//go:embed assets templates
var files embed.FS

// vendorAssets must be present: `make build` puts them there.
var vendorAssets = []string{"vendor/chart.umd.min.js"}

// assetSet is the served files with their content hashes: URLs carry the
// hash (?v=), so browsers may cache an asset for a long time and still
// load the new one after an upgrade.
type assetSet struct {
	body map[string][]byte
	hash map[string]string
}

func loadAssets() (*assetSet, error) {
	a := &assetSet{body: map[string][]byte{}, hash: map[string]string{}}
	err := fs.WalkDir(files, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "assets/")
		sum := sha256.Sum256(b)
		a.body[name], a.hash[name] = b, hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, v := range vendorAssets {
		if _, ok := a.body[v]; !ok {
			return nil, fmt.Errorf("the console's asset %s is missing: run `make build` (it installs the charting library with npm and copies it into pkg/console/assets/vendor)", v)
		}
	}
	return a, nil
}

// url is the versioned URL of an asset; it panics on an unknown name, which
// the templates' test catches.
func (a *assetSet) url(name string) string {
	h, ok := a.hash[name]
	if !ok {
		panic("console: no asset " + name)
	}
	return "/assets/" + name + "?v=" + h
}

func (s *Server) serveAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, ok := s.assets.body[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	if r.URL.Query().Get("v") == s.assets.hash[name] {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	_, _ = w.Write(b)
}

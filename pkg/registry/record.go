package registry

import (
	"time"

	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// Record is a pixel as JSON: the collector's cache file, and (with Secret
// fields left out) what pixelctl -format json prints. Modes are written by
// name ("required", "truncate"), never as numbers, so that a reader needs
// no table and a reordered constant cannot change a cached pixel.
type Record struct {
	ID                string    `json:"id"`
	Name              string    `json:"name"`
	Domains           []string  `json:"domains"`
	Status            string    `json:"status"`
	TimeZone          string    `json:"time_zone"`
	EngagementSeconds int       `json:"engagement_seconds"`
	Consent           string    `json:"consent"`
	IP                string    `json:"ip"`
	GPC               string    `json:"gpc"`
	DNT               string    `json:"dnt"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	Version           uint64    `json:"version"`
	SecretSHA256      string    `json:"secret_sha256,omitempty"`
	LinkKey           string    `json:"link_key,omitempty"`
}

// Public is the record of p without its secrets (the secret's hash and the
// link key), for output.
func (p *Pixel) Public() Record {
	r := p.Record()
	r.SecretSHA256, r.LinkKey = "", ""
	return r
}

// Record is the record of p, secrets included.
func (p *Pixel) Record() Record {
	domains := p.Domains
	if domains == nil {
		domains = []string{}
	}
	return Record{
		ID: p.ID, Name: p.Name, Domains: domains, Status: p.Status, TimeZone: p.TimeZone,
		EngagementSeconds: p.Settings.EngagementSeconds,
		Consent:           p.Settings.Consent.String(), IP: p.Settings.IP.String(),
		GPC: p.Settings.GPC.String(), DNT: p.Settings.DNT.String(),
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, Version: p.Version,
		SecretSHA256: p.SecretHash, LinkKey: p.LinkKey,
	}
}

// Pixel reads a record back into a pixel, validating it as the registry
// validates what it writes.
func (r Record) Pixel() (*Pixel, error) {
	p := &Pixel{
		ID: r.ID, Name: r.Name, Domains: r.Domains, Status: r.Status, TimeZone: r.TimeZone,
		SecretHash: r.SecretSHA256, LinkKey: r.LinkKey,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Version: r.Version,
	}
	p.Settings = pixel.Settings{EngagementSeconds: r.EngagementSeconds}
	if err := parseModes(&p.Settings, r.Consent, r.IP, r.GPC, r.DNT); err != nil {
		return nil, err
	}
	if err := validate(p); err != nil {
		return nil, err
	}
	return p, nil
}

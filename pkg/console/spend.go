package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/report"
	"github.com/pixel-pipeline/pixel/pkg/spend"
	"github.com/pixel-pipeline/pixel/pkg/users"
	"github.com/pixel-pipeline/pixel/schemas"
)

// spendRoutes registers the spend page, its upload and the spend API. An
// upload is spend.Parse and spend.Write, as pixelctl spend import does, and
// what it did is spend.Summarize's.
func (s *Server) spendRoutes() {
	s.page("GET /spend", "", s.spendPage)
	s.page("POST /spend", users.RoleAdmin, s.spendUpload)
	s.api("GET /api/spend", "", s.apiSpend)
	s.api("POST /api/spend", users.RoleAdmin, s.apiSpendImport)
}

// spendLimit is how many rows of ad_spend the page and the API list.
const spendLimit = 500

// spendRow is one row of pixel.ad_spend.
type spendRow struct {
	Day         string `json:"date"`
	Platform    string `json:"platform"`
	Account     string `json:"account"`
	Campaign    string `json:"campaign"`
	UTMCampaign string `json:"utm_campaign"`
	Currency    string `json:"currency"`
	CostMicros  int64  `json:"cost_micros"`
	Cost        string `json:"cost"`
	Clicks      uint64 `json:"clicks"`
	Impressions uint64 `json:"impressions"`
	ImportedAt  string `json:"imported_at"`
	// For people: 1,234.50 and 12,345.
	CostText, ClicksText, ImpressionsText string `json:"-"`
}

// spendTotal is what ad_spend holds for one platform and currency.
type spendTotal struct {
	Platform    string `json:"platform"`
	Currency    string `json:"currency"`
	Rows        uint64 `json:"rows"`
	CostMicros  int64  `json:"cost_micros"`
	Cost        string `json:"cost"`
	Clicks      uint64 `json:"clicks"`
	Impressions uint64 `json:"impressions"`
	FirstDay    string `json:"first_day"`
	LastDay     string `json:"last_day"`
	// For people.
	RowsText, CostText, ClicksText, ImpressionsText string `json:"-"`
}

// spendHeld is the listing of ad_spend: the newest rows and the totals.
type spendHeld struct {
	Rows   []spendRow   `json:"rows"`
	Totals []spendTotal `json:"totals"`
	// AllRows is how many rows the table holds (Rows has at most Limit).
	AllRows uint64 `json:"all_rows"`
	Limit   int    `json:"limit"`
}

// listSpend reads what pixel.ad_spend holds.
func (s *Server) listSpend(ctx context.Context) (*spendHeld, error) {
	h := &spendHeld{Rows: []spendRow{}, Totals: []spendTotal{}, Limit: spendLimit}
	rows, err := s.conn.Query(ctx, schemas.Internal("console_spend_rows"), spendLimit)
	if err != nil {
		return nil, fmt.Errorf("cannot read pixel.ad_spend: %w", err)
	}
	for rows.Next() {
		var r spendRow
		var day, at time.Time
		if err := rows.Scan(&day, &r.Platform, &r.Account, &r.Campaign, &r.UTMCampaign, &r.Currency, &r.CostMicros, &r.Clicks, &r.Impressions, &at); err != nil {
			rows.Close()
			return nil, fmt.Errorf("cannot read pixel.ad_spend: %w", err)
		}
		r.Day, r.Cost, r.ImportedAt = day.Format(time.DateOnly), spend.FormatMicros(r.CostMicros), at.UTC().Format(time.DateTime)
		r.CostText, r.ClicksText, r.ImpressionsText = money(r.CostMicros), count(r.Clicks), count(r.Impressions)
		h.Rows = append(h.Rows, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read pixel.ad_spend: %w", err)
	}
	rows, err = s.conn.Query(ctx, schemas.Internal("console_spend_totals"))
	if err != nil {
		return nil, fmt.Errorf("cannot read pixel.ad_spend: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t spendTotal
		var first, last time.Time
		if err := rows.Scan(&t.Platform, &t.Currency, &t.Rows, &t.CostMicros, &t.Clicks, &t.Impressions, &first, &last); err != nil {
			return nil, fmt.Errorf("cannot read pixel.ad_spend: %w", err)
		}
		t.Cost, t.FirstDay, t.LastDay = spend.FormatMicros(t.CostMicros), first.Format(time.DateOnly), last.Format(time.DateOnly)
		t.RowsText, t.CostText, t.ClicksText, t.ImpressionsText = count(t.Rows), money(t.CostMicros), count(t.Clicks), count(t.Impressions)
		h.Totals = append(h.Totals, t)
		h.AllRows += t.Rows
	}
	return h, rows.Err()
}

type spendView struct {
	Held     *spendHeld
	Imported *spend.Summary
	// ImportedTotals are Imported.Totals for people.
	ImportedTotals []spendTotal
	Error          string
	Platform       string // the upload form's choice
}

// spendPage shows what ad_spend holds, and the upload form to admins.
func (s *Server) spendPage(w http.ResponseWriter, r *http.Request) {
	s.renderSpend(w, r, http.StatusOK, &spendView{})
}

func (s *Server) renderSpend(w http.ResponseWriter, r *http.Request, status int, v *spendView) {
	held, err := s.listSpend(r.Context())
	if err != nil {
		s.log.Error().Err(err).Msg("cannot list ad spend")
		if v.Error == "" {
			v.Error = err.Error()
		}
		if status == http.StatusOK {
			status = http.StatusInternalServerError
		}
	}
	v.Held = held
	s.render(w, r, status, "spend.html", "Spend", v)
}

// importSpend parses an export and writes it: the one way both the page
// and the API import.
func (s *Server) importSpend(ctx context.Context, platform, account, currency, file string, data []byte) (*spend.Summary, error) {
	p, err := spend.ParsePlatform(platform)
	if err != nil {
		return nil, &badInput{err.Error()}
	}
	f, err := spend.Parse(p, data, spend.Options{Account: account, Currency: currency})
	if err != nil {
		return nil, &badInput{file + ": " + err.Error()}
	}
	if err := spend.Write(ctx, s.conn, f, s.opts.Now()); err != nil {
		return nil, err
	}
	sum := spend.Summarize(file, f, false)
	return &sum, nil
}

// readLimited reads at most maxUpload bytes, or says the file is too big.
func readLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxUpload+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxUpload {
		return nil, &badInput{"the file is larger than " + strconv.Itoa(maxUpload>>20) + " MiB; split the export by date range"}
	}
	return b, nil
}

// spendUpload imports an uploaded export (multipart: platform, file, and
// optionally account and currency, for files without those columns).
func (s *Server) spendUpload(w http.ResponseWriter, r *http.Request) {
	v := &spendView{Platform: r.FormValue("platform")}
	file, hdr, err := r.FormFile("file")
	if err != nil {
		v.Error = "Choose the export file to upload."
		s.renderSpend(w, r, http.StatusBadRequest, v)
		return
	}
	defer file.Close()
	data, err := readLimited(file)
	var bi *badInput
	if errors.As(err, &bi) {
		v.Error = bi.msg
		s.renderSpend(w, r, http.StatusBadRequest, v)
		return
	} else if err != nil {
		v.Error = "Cannot read the upload: " + err.Error()
		s.renderSpend(w, r, http.StatusBadRequest, v)
		return
	}
	sum, err := s.importSpend(r.Context(), r.FormValue("platform"), r.FormValue("account"), r.FormValue("currency"), hdr.Filename, data)
	switch {
	case errors.As(err, &bi):
		v.Error = bi.msg
		s.renderSpend(w, r, http.StatusBadRequest, v)
		return
	case err != nil:
		s.log.Error().Err(err).Msg("cannot import ad spend")
		v.Error = "The import failed: " + err.Error()
		s.renderSpend(w, r, http.StatusInternalServerError, v)
		return
	}
	v.Imported = sum
	for _, t := range sum.Totals {
		v.ImportedTotals = append(v.ImportedTotals, spendTotal{Platform: t.Platform, Currency: t.Currency,
			RowsText: count(uint64(t.Rows)), CostText: money(t.CostMicros), ClicksText: count(t.Clicks), ImpressionsText: count(t.Impressions)})
	}
	s.renderSpend(w, r, http.StatusOK, v)
}

// apiSpend answers what ad_spend holds.
func (s *Server) apiSpend(w http.ResponseWriter, r *http.Request) {
	held, err := s.listSpend(r.Context())
	if err != nil {
		s.log.Error().Err(err).Msg("cannot list ad spend")
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, held)
}

// apiSpendImport imports the request body, an export of ?platform=
// (&account= and &currency= for files without those columns), and answers
// what pixelctl spend import -format json prints.
func (s *Server) apiSpendImport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("platform") == "" {
		apiError(w, http.StatusBadRequest, "give the export's platform: ?platform=google, meta or csv")
		return
	}
	data, err := readLimited(r.Body)
	var bi *badInput
	if errors.As(err, &bi) {
		apiError(w, http.StatusRequestEntityTooLarge, bi.msg)
		return
	} else if err != nil {
		apiError(w, http.StatusBadRequest, "cannot read the request body: "+err.Error())
		return
	}
	name := q.Get("file")
	if name == "" {
		name = "(request body)"
	}
	sum, err := s.importSpend(r.Context(), q.Get("platform"), q.Get("account"), q.Get("currency"), name, data)
	switch {
	case errors.As(err, &bi):
		apiError(w, http.StatusBadRequest, bi.msg)
	case err != nil:
		s.log.Error().Err(err).Msg("cannot import ad spend")
		apiError(w, http.StatusInternalServerError, "the import failed: "+err.Error())
	default:
		writeJSON(w, http.StatusOK, sum)
	}
}

// money is an amount for people: 1,234.50.
func money(micros int64) string { return report.Group(spend.FormatMicros(micros)) }

// count is a count for people: 12,345.
func count(n uint64) string { return report.Group(strconv.FormatUint(n, 10)) }

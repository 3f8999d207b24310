package dataset

import (
	"bytes"
	"encoding/csv"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/spend"
)

// Spend is one platform, account, campaign and day of generated ad spend,
// as pkg/spend's csv layout holds it.
type Spend struct {
	Date        string // YYYY-MM-DD
	Platform    string
	Account     string
	Campaign    string // the name as an ad platform shows it: "Spring Sale"
	Currency    string
	CostMicros  int64 // whole cents, in micros
	Clicks      uint64
	Impressions uint64
}

// UnspentCampaign is a campaign the generated spend pays for but no visitor
// lands from: its cost meets no conversion.
const UnspentCampaign = "Black Friday - 2026"

// AdAccount is the ad account of pixel id's generated spend.
func AdAccount(pixel string) string { return "ads-" + pixel }

// Spend returns ad spend for the population's paid campaigns (those with a
// click id): for every pixel an account in the pixel's currency, every paid
// campaign and UnspentCampaign, every day of the range (and the day after,
// for pixels west of UTC), the same for the same Config. A campaign's
// clicks on a day are its landings on the pixel that day (page views
// with its utm_campaign, each once, in the pixel's days) and a tenth more
// (not every click loads the tag), 5 to 204 for UnspentCampaign; a click
// costs 0.50 to 2.99, an impression comes with 20 to 59 of them. Campaign
// names are written as the platforms show them ("Spring Sale" for the
// events' spring_sale), so that a report must apply the utm_campaign key to
// match them.
func (p *Population) Spend() []Spend {
	cfg := p.cfg
	type lk struct{ pixel, campaign, day string }
	landings := map[lk]uint64{}
	seen := map[string]bool{}
	_ = p.Events(func(e *event.Event) error {
		c := e.Tracking[event.UTMCampaign]
		if len(c) == 0 || e.IsBot || string(e.Name) != "PageView" || seen[string(e.EventID)] {
			return nil
		}
		seen[string(e.EventID)] = true
		landings[lk{string(e.PixelID), string(c), p.Day(string(e.PixelID), e.TS)}]++
		return nil
	})
	var out []Spend
	for _, px := range cfg.Pixels {
		names := []string{UnspentCampaign}
		utms := []string{""}
		platforms := []string{"google"}
		for _, c := range cfg.Campaigns {
			if c.ClickID < 0 {
				continue // a newsletter costs no ad spend
			}
			names = append(names, displayName(c.Name))
			utms = append(utms, c.Name)
			platforms = append(platforms, c.Source)
		}
		for d := 0; d <= cfg.Days; d++ {
			day := cfg.Start.AddDate(0, 0, d).Format("2006-01-02")
			for i, name := range names {
				h := fnv.New64a()
				h.Write([]byte(px.ID + "\x00" + name + "\x00" + day))
				rng := rand.New(rand.NewPCG(cfg.Seed, h.Sum64()))
				clicks := uint64(5 + rng.IntN(200))
				if utms[i] != "" {
					n := landings[lk{px.ID, utms[i], day}]
					clicks = n + n/10
				}
				if clicks == 0 {
					continue
				}
				out = append(out, Spend{
					Date: day, Platform: platforms[i], Account: AdAccount(px.ID), Campaign: name, Currency: px.Currency,
					CostMicros:  int64(clicks) * int64(50+rng.IntN(250)) * 10_000,
					Clicks:      clicks,
					Impressions: clicks * uint64(20+rng.IntN(40)),
				})
			}
		}
	}
	return out
}

// displayName is spring_sale as an ad platform shows it: Spring Sale.
func displayName(utm string) string {
	words := strings.Split(utm, "_")
	for i, w := range words {
		if w != "" {
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(words, " ")
}

// SpendCSV writes spend in pkg/spend's csv layout (spend.Parse with
// spend.CSV reads it).
func SpendCSV(rows []Spend) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"date", "platform", "account", "campaign", "cost", "currency", "clicks", "impressions"})
	for _, r := range rows {
		_ = w.Write([]string{r.Date, r.Platform, r.Account, r.Campaign, spend.FormatMicros(r.CostMicros), r.Currency,
			strconv.FormatUint(r.Clicks, 10), strconv.FormatUint(r.Impressions, 10)})
	}
	w.Flush()
	return b.Bytes()
}

// CampaignCost is one campaign and currency of the cpa and roas reports.
type CampaignCost struct {
	CostMicros          int64
	Conversions         int
	RevenueCents        int64
	Clicks, Impressions uint64
}

// CampaignCostKey names a row of CampaignCosts; Campaign is the utm_campaign
// key (spend.UTMCampaign).
type CampaignCostKey struct{ Campaign, Currency string }

// CampaignCosts returns what the cpa and roas reports answer for pixel over
// the pixel's days from to to (YYYY-MM-DD, inclusive), counting the spend of
// account ("*": every account) on those days: per campaign with spend and
// currency, the spend and the conversions named name attributed to the
// campaign its session landed from (the earliest event of the same visitor
// and session with a utm_campaign), in the conversion's currency. The totals
// are under the campaign "Total".
func (p *Population) CampaignCosts(rows []Spend, pixel, name, account, from, to string) map[CampaignCostKey]CampaignCost {
	out := map[CampaignCostKey]CampaignCost{}
	add := func(campaign, currency string, f func(*CampaignCost)) {
		for _, c := range []string{campaign, "Total"} {
			k := CampaignCostKey{c, currency}
			v := out[k]
			f(&v)
			out[k] = v
		}
	}
	paid := map[string]bool{}
	for _, r := range rows {
		if r.Date < from || r.Date > to || (account != "*" && r.Account != account) {
			continue
		}
		key := spend.UTMCampaign(r.Campaign)
		if key == "" {
			continue
		}
		paid[key] = true
		add(key, r.Currency, func(c *CampaignCost) {
			c.CostMicros += r.CostMicros
			c.Clicks += r.Clicks
			c.Impressions += r.Impressions
		})
	}
	type sk struct{ visitor, session string }
	events := p.Rows(nil)
	landing := map[sk]string{} // rows are in time order: the first touch wins
	for _, r := range events {
		k := sk{r.Visitor, r.Session}
		if _, ok := landing[k]; !ok && r.Pixel == pixel && r.Session != "" && r.Campaign != "" {
			landing[k] = spend.UTMCampaign(r.Campaign)
		}
	}
	for _, r := range events {
		if r.Pixel != pixel || r.Event != name {
			continue
		}
		k := sk{r.Visitor, r.Session}
		day := p.Day(pixel, r.TS)
		camp, ok := landing[k]
		if day < from || day > to || !ok || !paid[camp] {
			continue
		}
		add(camp, r.Currency, func(c *CampaignCost) {
			c.Conversions++
			c.RevenueCents += r.Cents
		})
	}
	return out
}

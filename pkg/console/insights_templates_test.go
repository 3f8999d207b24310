package console

import (
	"github.com/pixel-pipeline/pixel/pkg/audience"
	"github.com/pixel-pipeline/pixel/pkg/report"
	"github.com/pixel-pipeline/pixel/pkg/spend"
)

// The insights pages' sample data for TestTemplatesAreSafe: every string
// field the templates reach holds h.
func init() {
	sampleData["dashboard.html"] = func(h string) any {
		table := &reportTable{Columns: []reportColumn{{Name: h}, {Name: h, Numeric: true}},
			Rows: [][]reportCell{{{Col: h, Value: h, Text: h}, {Col: h, Value: h, Text: h, Numeric: true}}}, Totals: [][]reportCell{{{Col: h, Value: h, Text: h}}}}
		res := &report.Result{Range: report.Range{From: h, To: h}}
		cards := map[string]*reportCard{}
		for i, n := range []string{cardEngaged, cardConversions, cardCPA, cardCampaigns, cardFunnel, cardPages} {
			c := &reportCard{Name: n, Title: h, Result: res, Table: table}
			if i%2 == 1 {
				c.Error = h
			}
			cards[n] = c
		}
		return &dashboardView{Range: dashRange{Last: h, From: h, To: h}, Ranges: []string{h, "7d"}, From: h, To: h, TimeZone: h, EngagedSeconds: 60,
			Steps: h, DefaultSteps: h, KPIs: []kpiTile{{ID: h, Label: h, Text: h, Value: h, Note: h}, {ID: "kpi-engaged-rate", Label: h}},
			Cards: cards, TrafficLabel: h, ConversionsLabel: h,
			Chart: chartData{Traffic: &chartSeries{Labels: []string{h}, Datasets: []chartDataset{{Label: h, Data: []float64{1}, Axis: h}}}}}
	}
	sampleData["audiences.html"] = func(h string) any {
		return []audienceListRow{{Name: h, Title: h, Params: []ruleParam{{Name: h, Default: h, HasDefault: true}, {Name: "to"}, {Name: h}}}}
	}
	sampleData["audience.html"] = func(h string) any {
		c := audience.Counts{Exported: 3, Consent: 1}
		return &audienceView{Name: h, Title: h, Doc: h, To: h, Members: 4,
			Params: []ruleParam{{Name: h, Type: "Date", Default: h, Doc: h, Value: h}, {Name: h, Type: "UInt32", HasDefault: true, Default: h, Value: h}, {Name: "to", Value: h}},
			Meta:   &formatCount{Format: h, Label: h, Counts: c, Download: h}, Google: &formatCount{Format: h, Label: h, Counts: c, Download: h}}
	}
	sampleData["spend.html"] = func(h string) any {
		t := spendTotal{Platform: h, Currency: h, Cost: h, FirstDay: h, LastDay: h, RowsText: h, CostText: h, ClicksText: h, ImpressionsText: h, Rows: 2}
		return &spendView{Error: h, Platform: h,
			Imported:       &spend.Summary{File: h, Platform: h, SHA256: h, Skipped: []spend.Skip{{Line: 3, Reason: h}}, Rows: 1},
			ImportedTotals: []spendTotal{t},
			Held: &spendHeld{Totals: []spendTotal{t}, AllRows: 900, Limit: 500, Rows: []spendRow{{Day: h, Platform: h, Account: h, Campaign: h, UTMCampaign: h,
				Currency: h, Cost: h, CostText: h, ClicksText: h, ImpressionsText: h, ImportedAt: h}}}}
	}
}

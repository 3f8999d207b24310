// Package naive is what the naive baselines of `make bench`
// (bench/cmd/naivecollector, bench/cmd/naiveconsumer) share: the event as a
// plain Go struct with encoding/json tags, the way one would write it from
// schemas/event-format.md in an afternoon. A column added to the wire format
// is added here too, or the baselines would do less work than ours.
package naive

// Event is one hit, with the field names of the wire format; the fields the
// format leaves out when empty are omitempty.
type Event struct {
	EventID    string   `json:"event_id"`
	PixelID    string   `json:"pixel_id"`
	VisitorID  string   `json:"visitor_id"`
	SessionID  string   `json:"session_id,omitempty"`
	Event      string   `json:"event"`
	TS         int64    `json:"ts"`
	ReceivedAt int64    `json:"received_at"`
	URL        string   `json:"url"`
	Referrer   string   `json:"referrer,omitempty"`
	Value      float64  `json:"value,omitempty"`
	Currency   string   `json:"currency,omitempty"`
	OrderID    string   `json:"order_id,omitempty"`
	ContentIDs []string `json:"content_ids,omitempty"`
	IP         string   `json:"ip"`
	UserAgent  string   `json:"user_agent"`
	Props      string   `json:"props,omitempty"`
}

// Columns are the columns of pixel.events in the order of Event's fields,
// for INSERT INTO events (Columns) with one Append argument per field.
const Columns = "event_id, pixel_id, visitor_id, session_id, event, ts, received_at, url, referrer, value, currency, order_id, content_ids, ip, user_agent, props"

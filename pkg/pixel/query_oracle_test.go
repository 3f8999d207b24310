package pixel

import (
	"time"

	"github.com/valyala/fasthttp"
)

// ParseQuery fills h.Event from the pixel's query parameters (see DESIGN.md):
// id, ev, eid, dl, rl, ts and cd[...]. Unknown parameters (cache busters) are
// ignored; for a repeated parameter the first one counts. now is the receive
// time, used to judge ts. The event borrows args' memory and h's buffers.
// The returned error is an *InvalidError naming the reason. It is the
// tests' oracle for ParseRawQuery, which the request path uses: both must
// give the same event, and fasthttp.Args is the reference for decoding.
func ParseQuery(args *fasthttp.Args, h *Hit, lim *Limits, now time.Time) error {
	for key, val := range args.All() {
		if err := h.queryParam(key, val, lim, now); err != nil {
			return err
		}
	}
	return h.finishEvent()
}

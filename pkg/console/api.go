package console

import (
	"encoding/json"
	"io"
	"net/http"
)

// writeJSON answers v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// apiError answers {"error": msg}.
func apiError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// apiMe is who the request acts for.
func (s *Server) apiMe(w http.ResponseWriter, r *http.Request) {
	u := current(r)
	writeJSON(w, http.StatusOK, map[string]any{"name": u.Name, "role": u.Role})
}

// maxJSONBody bounds an API request's JSON body.
const maxJSONBody = 64 << 10

// decodeJSON decodes the request body into v, at most maxJSONBody bytes,
// refusing unknown fields (a typo would otherwise change nothing, silently).
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

package console

import "net/http"

// spendRoutes registers the routes of this feature (being built).
func (s *Server) spendRoutes() {
	s.page("GET /spend", "", func(w http.ResponseWriter, r *http.Request) {
		s.render(w, r, http.StatusOK, "error.html", "Spend", "Not built yet.")
	})
}

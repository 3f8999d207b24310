package console

import "net/http"

// pixelRoutes registers the routes of this feature (being built).
func (s *Server) pixelRoutes() {
	s.page("GET /pixels", "", func(w http.ResponseWriter, r *http.Request) {
		s.render(w, r, http.StatusOK, "error.html", "Pixels", "Not built yet.")
	})
}

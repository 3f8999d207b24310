package console

import (
	"net/http"

	"github.com/pixel-pipeline/pixel/pkg/users"
)

// userRoutes registers the routes of this feature (being built).
func (s *Server) userRoutes() {
	s.page("GET /users", users.RoleAdmin, func(w http.ResponseWriter, r *http.Request) {
		s.render(w, r, http.StatusOK, "error.html", "Users", "Not built yet.")
	})
}

// accountRoutes: the signed-in user's own page (being built).
func (s *Server) accountRoutes() {
	s.page("GET /account", "", func(w http.ResponseWriter, r *http.Request) {
		s.render(w, r, http.StatusOK, "error.html", "Account", "Not built yet.")
	})
}

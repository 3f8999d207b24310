package console

import (
	"net/http"
	"net/url"
)

// routes registers every page and API route. Each feature registers its
// own in its file; the URLs are the console's public contract (README).
func (s *Server) routes() {
	s.mux.HandleFunc("GET /assets/{file...}", s.serveAsset)
	s.mux.HandleFunc("GET /login", s.loginPage)
	s.mux.HandleFunc("POST /login", s.login)
	s.page("POST /logout", "", s.logout)
	s.page("GET /{$}", "", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/pixels", http.StatusSeeOther)
	})
	s.page("GET /go", "", func(w http.ResponseWriter, r *http.Request) {
		// The navigation's pixel switcher.
		http.Redirect(w, r, "/pixels/"+url.PathEscape(r.URL.Query().Get("pixel"))+"/dashboard", http.StatusSeeOther)
	})
	s.api("GET /api/me", "", s.apiMe)
	s.api("/api/", "", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "no such API route: "+r.Method+" "+r.URL.Path)
	})

	s.pixelRoutes()
	s.liveRoutes()
	s.dashboardRoutes()
	s.audienceRoutes()
	s.spendRoutes()
	s.destinationRoutes()
	s.userRoutes()
	s.accountRoutes()
}

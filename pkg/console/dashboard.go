package console

// dashboardRoutes registers the routes of this feature (not yet built).
func (s *Server) dashboardRoutes() {}

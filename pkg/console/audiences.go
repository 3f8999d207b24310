package console

// audienceRoutes registers the routes of this feature (not yet built).
func (s *Server) audienceRoutes() {}

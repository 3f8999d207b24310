package console

// liveRoutes registers the routes of this feature (not yet built).
func (s *Server) liveRoutes() {}

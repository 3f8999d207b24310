package privacy

// SetRebuildChunk sets how many daily_stats groups one rebuild statement
// names, so that a test goes through several statements; the returned
// function restores it.
func SetRebuildChunk(n int) (restore func()) {
	old := rebuildChunk
	rebuildChunk = n
	return func() { rebuildChunk = old }
}

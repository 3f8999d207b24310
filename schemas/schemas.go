// Package schemas embeds the project's SQL so that every binary carries it:
// clickhouse/ holds the versioned migrations (applied in file-name order by
// pixelctl migrate), internal/ the statements the Go code runs, and queries/
// the analysis SQL for conversion and retargeting questions.
package schemas

import "embed"

// FS holds clickhouse/*.sql, internal/*.sql and queries/*.sql.
//
//go:embed clickhouse/*.sql internal/*.sql queries/*.sql
var FS embed.FS

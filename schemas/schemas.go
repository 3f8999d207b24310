// Package schemas embeds the project's SQL so that every binary carries it:
// clickhouse/ holds the versioned migrations (applied in file-name order by
// pixelctl migrate), internal/ the statements the Go code runs, and queries/
// the analysis SQL for conversion and retargeting questions, queries/audiences/
// the audience rules that pkg/audience exports for ad platforms.
package schemas

import (
	"embed"
	"strings"
)

// FS holds clickhouse/*.sql, internal/*.sql, queries/*.sql and
// queries/audiences/*.sql.
//
//go:embed clickhouse/*.sql internal/*.sql queries/*.sql queries/audiences/*.sql
var FS embed.FS

// Internal returns schemas/internal/<name>.sql as it is sent (Statement):
// the statements the packages run themselves (chstore, registry, privacy,
// spend). A missing file is a build defect, not a runtime condition.
func Internal(name string) string {
	b, err := FS.ReadFile("internal/" + name + ".sql")
	if err != nil {
		panic("schemas: missing embedded statement internal/" + name + ".sql")
	}
	return Statement(string(b))
}

// Statement is the text of a .sql file as it is sent to ClickHouse: without
// its "--" comment lines and without trailing semicolons and white space.
func Statement(text string) string {
	var b strings.Builder
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return strings.TrimRight(strings.TrimSpace(b.String()), ";")
}

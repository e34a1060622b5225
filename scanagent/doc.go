// Package scanagent holds the record that flows from extract to load: one
// normalized Defender authenticated scan agent. It is a leaf package, so the
// loader never pulls in HTTP code and the extractor never pulls in pgx.
package scanagent

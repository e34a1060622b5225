// Package scanagent holds the records that flow from extract to load: the
// normalized Defender authenticated scan agents (Record), and what they run,
// scan definitions (ScanDefinition) and scan sessions with their targets
// (ScanSession). It is a leaf package, so the loader never pulls in HTTP
// code and the extractor never pulls in pgx.
package scanagent

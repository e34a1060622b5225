// Package report renders what the history of the scan agents shows, for
// people: the self-contained HTML report of agentsync report (charts drawn
// as SVG on the server, each with its numbers in a table, opening offline
// and printing well), the status of each tenant's syncs that agentsync
// status prints, the text tables the demo prints, and the evidence
// agentsync export writes for auditors (CSV files and a manifest of their
// SHA-256 digests).
//
// It reads only the documented reporting views and functions of schema
// defender, what the role defender_reader may read, each picture in one
// read-only REPEATABLE READ transaction so that its parts agree; it never
// reads the storage behind them. Commands only wire it up.
//
// What the data carries is shown, never acted on: HTML-escaped by the
// template, and every control character (C0, C1) and bidirectional
// override shown as its escape, in the page and in the text tables. The
// page's Content-Security-Policy lets it load and run nothing. WriteFile
// writes a report whole or not at all, with the mode of the file it
// replaces, else the one the umask allows.
package report

package dbtest

// ParseURLForTest exposes parseURL to the external tests.
var ParseURLForTest = parseURL

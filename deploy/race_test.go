//go:build race

package deploy_test

// raceEnabled says that the tests run with the race detector.
const raceEnabled = true

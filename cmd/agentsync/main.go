// Command agentsync syncs the authenticated scan agents of a Microsoft
// Defender tenant into PostgreSQL, with their full history. Run
// "agentsync --help" for the commands.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(newApp(os.Stdout, os.Stderr, os.Getenv).main(context.Background(), os.Args[1:]))
}

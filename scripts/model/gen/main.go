// Command gen writes scripts/model/params.pml, the timing the Promela models check, from the Go
// constants and defaults the agent runs with: the session's divisors (etcdlock), the watchdog
// arithmetic (fence) and the default configuration (config). Run it from the repository root:
//
//	go run ./scripts/model/gen
//
// The test next to it fails when the checked-in file differs from what this writes, so the
// models cannot drift from the code.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	out := flag.String("o", "scripts/model/params.pml", "file to write")
	flag.Parse()
	text, err := Render()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, []byte(text), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

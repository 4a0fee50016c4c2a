// Command mdcadm is mdcluster's mdadm-compatible front end. It accepts
// mdadm 4.2's whole command line; the read-only modes (--examine,
// --examine-bitmap, --detail, --query and their --scan, --brief and
// --export forms, plus --json) run in pure Go with mdadm's output, and the
// other modes are recognised and refused until they are implemented.
package main

import (
	"os"

	"mdcluster.dev/cmd/mdcadm/internal/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], cli.DefaultEnv()))
}

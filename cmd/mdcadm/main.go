// Command mdcadm is mdcluster's mdadm-compatible front end. This first cut answers --version
// only; mdadm's modes arrive with the md interface and the agent's leases.
package main

import (
	"fmt"
	"os"

	"mdcluster.dev/internal/buildinfo"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 1 && (args[0] == "--version" || args[0] == "-V") {
		fmt.Println(buildinfo.String("mdcadm"))
		return 0
	}
	fmt.Fprintln(os.Stderr, "mdcadm: usage: mdcadm --version (mdadm's modes are not available in this build)")
	return 2
}

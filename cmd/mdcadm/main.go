// Command mdcadm is mdcluster's mdadm-compatible front end. It accepts
// mdadm 4.2's whole command line; the read-only modes (--examine,
// --examine-bitmap, --detail, --query and their --scan, --brief and
// --export forms, plus --json) run in pure Go with mdadm's output; the
// changing modes run the real mdadm under the local mdclusterd's leases
// (see package cli for the policy); --cluster-status shows the cluster.
package main

import (
	"os"

	"mdcluster.dev/cmd/mdcadm/internal/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], cli.DefaultEnv()))
}

// Command mdclusterd is mdcluster's per-server agent. This first cut carries only the version
// command; the agent's run and check-config commands arrive with the reconcile loop.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"mdcluster.dev/internal/buildinfo"
)

func main() {
	app := &cli.App{
		Name:  "mdclusterd",
		Usage: "cluster agent for Linux md RAID on shared disks",
		Commands: []*cli.Command{{
			Name:  "version",
			Usage: "print the version and exit",
			Action: func(c *cli.Context) error {
				fmt.Fprintln(c.App.Writer, buildinfo.String("mdclusterd"))
				return nil
			},
		}},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return cli.Exit("mdclusterd: "+err.Error(), 2)
		},
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(c.App.ErrWriter, "mdclusterd: unknown command %q\n", name)
			os.Exit(2)
		},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

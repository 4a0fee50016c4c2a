package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"mdcluster.dev/mdcluster/config"
)

// udevCommand is the helper of the package's udev rule (63-mdcluster.rules): it prints udev
// properties (KEY=value lines for IMPORT{program}) that keep two of mdadm's rules off what the
// agent does. It never fails the rule: a problem is a line on stderr (udev's log).
func udevCommand() *cli.Command {
	cfg := &cli.StringFlag{Name: "config", Value: "/etc/mdcluster/mdclusterd.yaml", Usage: "the agent's configuration"}
	return &cli.Command{
		Name:   "udev",
		Usage:  "properties for the package's udev rule (63-mdcluster.rules); not for interactive use",
		Hidden: true,
		Subcommands: []*cli.Command{
			{
				Name:      "member",
				Usage:     "MDCLUSTER_MODE=exclusive when ARRAY_UUID (a member's ID_FS_UUID) is an exclusive array here",
				ArgsUsage: "ARRAY_UUID",
				Flags:     []cli.Flag{cfg},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return cli.Exit("mdclusterd udev member: want ARRAY_UUID", 2)
					}
					udevMember(c.App.Writer, c.App.ErrWriter, c.String("config"), c.Args().First())
					return nil
				},
			},
			{
				Name:  "new-disk",
				Usage: "MDCLUSTER_CONFIRMS=1 when the agent answers md-cluster's new-disk requests here",
				Flags: []cli.Flag{cfg},
				Action: func(c *cli.Context) error {
					if _, err := os.Stat(c.String("config")); err == nil {
						fmt.Fprintln(c.App.Writer, "MDCLUSTER_CONFIRMS=1")
					}
					return nil
				},
			},
		},
	}
}

// udevMember decides whether mdadm may assemble the array a member belongs to. Exclusive arrays
// of the configuration are the agent's alone. A configuration that exists but cannot be read
// names nothing for sure, so every member is kept from mdadm then: an exclusive array running
// on a node without its lease is what must never happen, and the agent (which would refuse to
// start on that file too) or the operator can still assemble what is not the cluster's.
func udevMember(stdout, stderr io.Writer, path, uuid string) {
	arrays, err := config.ReadArrays(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return
	case err != nil:
		fmt.Fprintf(stderr, "mdclusterd udev: %v: keeping mdadm off array %s\n", err, uuid)
		fmt.Fprintln(stdout, "MDCLUSTER_MODE=exclusive")
		fmt.Fprintln(stdout, "MDCLUSTER_REASON=unreadable-config")
		return
	}
	for _, a := range arrays {
		if config.SameUUID(a.UUID, uuid) {
			fmt.Fprintf(stdout, "MDCLUSTER_ARRAY=%s\nMDCLUSTER_MODE=%s\n", a.Name, a.Mode)
			return
		}
	}
}

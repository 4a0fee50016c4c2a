package main

import (
	"context"
	"encoding/json"
	"time"

	"github.com/urfave/cli/v2"

	"mdcluster.dev/internal/buildinfo"
	"mdcluster.dev/mdcluster/config"
	"mdcluster.dev/mdcluster/doctor"
)

// doctorCommand is the preflight of a node and its cluster (mdcluster/doctor). It exits 1 when a
// check fails, so scripts and configuration management can gate on it.
func doctorCommand() *cli.Command {
	return &cli.Command{
		Name: "doctor",
		Usage: "check this node and the cluster (modules, watchdog, udev and mdadm.conf, devices, cluster name, " +
			"lock service, clocks, timing); publishes this node's facts for the other nodes' runs; exit 1 on a failure",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Value: "/etc/mdcluster/mdclusterd.yaml", Usage: "configuration file"},
			&cli.BoolFlag{Name: "json", Usage: "print the results as JSON"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return cli.Exit("mdclusterd doctor: takes no arguments", 2)
			}
			var rs []doctor.Result
			cfg, err := config.Load(c.String("config"))
			if err != nil {
				rs = []doctor.Result{{Check: "config", Node: "-", Status: doctor.StatusFail, Detail: err.Error(),
					Advice: "fix the file (`mdclusterd check-config` names the key at fault); the other checks need it"}}
			} else {
				ctx, cancel := context.WithTimeout(c.Context, 2*time.Minute)
				defer cancel()
				rs = doctor.Run(ctx, doctor.System(), cfg, buildinfo.String("mdclusterd"))
			}
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rs); err != nil {
					return err
				}
			} else if err := doctor.WriteTable(c.App.Writer, rs); err != nil {
				return err
			}
			if doctor.Failed(rs) {
				return cli.Exit("", 1)
			}
			return nil
		},
	}
}

package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"mdcluster.dev/internal/pki"
)

// tlsCommand makes the certificates of an etcd-cluster with mutual TLS: the nodes have no
// openssl, and one CA per cluster with one certificate per node is all the agents need.
func tlsCommand() *cli.Command {
	days := func(def time.Duration) *cli.IntFlag {
		return &cli.IntFlag{Name: "days", Value: int(def / (24 * time.Hour)), Usage: "validity in days"}
	}
	return &cli.Command{
		Name:  "tls",
		Usage: "make the CA and node certificates for etcd's mutual TLS",
		Subcommands: []*cli.Command{
			{
				Name:      "init-ca",
				Usage:     "create a cluster CA in DIR (ca.crt, ca.key); keep DIR off the nodes",
				ArgsUsage: "DIR",
				Flags:     []cli.Flag{&cli.StringFlag{Name: "name", Value: "mdcluster CA", Usage: "the CA's common name"}, days(pki.CAValidity)},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 || c.Int("days") < 1 {
						return cli.Exit("mdclusterd tls init-ca: want exactly one DIR and --days of at least 1", 2)
					}
					ca, err := pki.NewCA(c.String("name"), time.Duration(c.Int("days"))*24*time.Hour)
					if err == nil {
						err = ca.Save(c.Args().First())
					}
					if err != nil {
						return cli.Exit("mdclusterd tls init-ca: "+err.Error(), 1)
					}
					fmt.Fprintf(c.App.Writer, "%s: CA %q valid until %s\n", c.Args().First(), ca.Cert.Subject.CommonName, ca.Cert.NotAfter.UTC().Format(time.DateOnly))
					return nil
				},
			},
			{
				Name: "issue",
				Usage: "issue node NAME's certificate for its HOSTs (IP addresses or DNS names; the loopback is always " +
					"named) into --out: ca.crt, node.crt, node.key, to copy to the node's /etc/mdcluster/tls",
				ArgsUsage: "NAME [HOST...]",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "ca", Usage: "the CA directory (from init-ca); required"},
					&cli.StringFlag{Name: "out", Usage: "the node's directory to create; required"},
					days(pki.NodeValidity),
				},
				Action: func(c *cli.Context) error {
					if c.NArg() < 1 || c.String("ca") == "" || c.String("out") == "" || c.Int("days") < 1 {
						return cli.Exit("mdclusterd tls issue: want --ca DIR --out DIR NAME [HOST...] and --days of at least 1", 2)
					}
					ca, err := pki.LoadCA(c.String("ca"))
					if err != nil {
						return cli.Exit("mdclusterd tls issue: "+err.Error(), 1)
					}
					n, err := ca.Issue(c.Args().First(), c.Args().Tail(), time.Time{}, time.Duration(c.Int("days"))*24*time.Hour)
					if err == nil {
						err = n.Save(c.String("out"), ca)
					}
					if err != nil {
						return cli.Exit("mdclusterd tls issue: "+err.Error(), 1)
					}
					fmt.Fprintf(c.App.Writer, "%s: %s, names %v %v, valid until %s\n", c.String("out"), c.Args().First(),
						n.Cert.DNSNames, n.Cert.IPAddresses, n.Cert.NotAfter.UTC().Format(time.DateOnly))
					return nil
				},
			},
		},
	}
}

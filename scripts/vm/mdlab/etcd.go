package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"mdcluster.dev/dlm/etcdembed"
	"mdcluster.dev/mdcluster/config"
)

// etcdCmd is the lab's window on the etcd cluster the agents form (the guests have no etcdctl):
//
//	mdlab etcd leader            print the leading member's name
//	mdlab etcd move-leader NAME  hand leadership to member NAME (run on the leader's node)
//
// It talks to this node's member as the agent does (its configuration's client URL and
// certificate).
func etcdCmd(ctx context.Context, args []string) error {
	if len(args) < 1 || (args[0] == "move-leader") != (len(args) == 2) || (args[0] != "leader" && args[0] != "move-leader") {
		return usageError("etcd: want leader, or move-leader NAME")
	}
	cfg, err := config.Load("/etc/mdcluster/mdclusterd.yaml")
	if err != nil {
		return err
	}
	le := cfg.LockEngine
	cc := etcdembed.ClientConfig{Endpoints: []string{le.ClientURL}}
	if t, ok := le.ClientTLSFiles(); ok {
		cc.CAFile, cc.CertFile, cc.KeyFile = t.CA, t.Cert, t.Key
	}
	cli, err := etcdembed.NewClient(cc)
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ml, err := cli.MemberList(ctx)
	if err != nil {
		return err
	}
	st, err := cli.Status(ctx, le.ClientURL)
	if err != nil {
		return err
	}
	ids := map[string]uint64{}
	leader := ""
	for _, m := range ml.Members {
		ids[m.Name] = m.ID
		if m.ID == st.Leader {
			leader = m.Name
		}
	}
	if args[0] == "leader" {
		if leader == "" {
			return errors.New("no leader")
		}
		fmt.Println(leader)
		return nil
	}
	to, ok := ids[args[1]]
	switch {
	case !ok:
		return fmt.Errorf("no member %q", args[1])
	case leader == args[1]:
		return nil
	case st.Header.MemberId != st.Leader:
		return fmt.Errorf("this member is not the leader: run on %s's node", leader)
	}
	_, err = cli.MoveLeader(clientv3.WithRequireLeader(ctx), to)
	return err
}

package etcdlock

import (
	"context"
	"sort"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"mdcluster.dev/dlm"
	"mdcluster.dev/dlm/dlmtest"
)

// checkEtcdHistory replays every revision of the test's keys and checks
// each committed state: granted modes pairwise compatible, grants and
// conversions only on live requests, grant tokens increasing; and at the end
// nothing is left but value blocks.
func checkEtcdHistory(ctx context.Context, rt dlmtest.TB, cli *clientv3.Client, prefix string, from int64) {
	end, err := cli.Put(ctx, prefix+"~end", "")
	if err != nil {
		rt.Fatalf("%v", err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	state := map[string]*mvccpb.KeyValue{}
	lastTok := map[string]int64{}
	var rev int64
	check := func() {
		byRes := map[string][]*mvccpb.KeyValue{}
		for k, kv := range state {
			if i := strings.Index(k, "/q/"); i >= 0 && len(kv.Value) > 1 && kv.Value[1] == qGranted {
				if _, conv := state[strings.Replace(k, "/q/", "/g/", 1)]; !conv {
					byRes[k[:i]] = append(byRes[k[:i]], kv)
				}
			}
			if strings.Contains(k, "/g/") {
				res := k[:strings.Index(k, "/g/")]
				byRes[res] = append(byRes[res], kv)
				if _, ok := state[strings.Replace(k, "/g/", "/q/", 1)]; !ok {
					rt.Errorf("rev %d: grant %s without its request", rev, k)
				}
			}
			if strings.Contains(k, "/c/") {
				if _, ok := state[strings.Replace(k, "/c/", "/q/", 1)]; !ok {
					rt.Errorf("rev %d: conversion %s without a grant", rev, k)
				}
			}
		}
		for res, gs := range byRes {
			sort.Slice(gs, func(i, j int) bool { return string(gs[i].Key) < string(gs[j].Key) })
			for i, a := range gs {
				for _, b := range gs[i+1:] {
					if !dlm.Compatible(dlm.Mode(a.Value[0]), dlm.Mode(b.Value[0])) {
						rt.Errorf("rev %d: %s in %v and %s in %v granted together on %s", rev, a.Key, dlm.Mode(a.Value[0]), b.Key, dlm.Mode(b.Value[0]), res)
					}
				}
			}
		}
	}
	for wr := range cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(from+1)) {
		if err := wr.Err(); err != nil {
			rt.Fatalf("%v", err)
		}
		for _, ev := range wr.Events {
			if ev.Kv.ModRevision != rev && rev != 0 {
				check()
			}
			rev = ev.Kv.ModRevision
			k := string(ev.Kv.Key)
			if ev.Type == mvccpb.DELETE {
				delete(state, k)
				continue
			}
			state[k] = ev.Kv
			if i := strings.Index(k, "/q/"); i >= 0 && len(ev.Kv.Value) > 1 && ev.Kv.Value[1] == qGranted {
				tok := int64(mkToken(ev.Kv.ModRevision, 0))
				if tok <= lastTok[k[:i]] {
					rt.Errorf("fast-path grant token %d on %s not above %d", tok, k[:i], lastTok[k[:i]])
				}
				lastTok[k[:i]] = tok
			}
			if i := strings.Index(k, "/g/"); i >= 0 {
				tok := int64(tokenOf(ev.Kv))
				if tok <= lastTok[k[:i]] {
					rt.Errorf("grant token %d on %s not above %d", tok, k[:i], lastTok[k[:i]])
				}
				lastTok[k[:i]] = tok
			}
		}
		if rev >= end.Header.Revision {
			break
		}
	}
	check()
	for k := range state {
		if !strings.HasSuffix(k, "/lvb") && !strings.HasSuffix(k, "~end") {
			rt.Errorf("key left after every session closed: %s", k)
		}
	}
}

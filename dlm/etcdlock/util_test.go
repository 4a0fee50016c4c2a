package etcdlock

import clientv3 "go.etcd.io/etcd/client/v3"

func withPrefix() []clientv3.OpOption { return []clientv3.OpOption{clientv3.WithPrefix()} }

func withRevOpt(rev int64) []clientv3.OpOption { return []clientv3.OpOption{clientv3.WithRev(rev)} }

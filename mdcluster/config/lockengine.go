package config

import (
	"fmt"
	"net/url"
	"strings"
)

func (e *LockEngine) validate(node Node) error {
	if e.Prefix == "" || !strings.HasPrefix(e.Prefix, "/") || !strings.HasSuffix(e.Prefix, "/") {
		return keyErr("lock_engine.prefix", e.Prefix, "want a key prefix that starts and ends with /")
	}
	switch e.Type {
	case EngineEmbedded:
		if err := checkPath("lock_engine.data_dir", e.DataDir); err != nil {
			return err
		}
		if err := checkURL("lock_engine.client_url", e.ClientURL); err != nil {
			return err
		}
	case EngineCluster:
		if err := checkPath("lock_engine.data_dir", e.DataDir); err != nil {
			return err
		}
		if err := checkURL("lock_engine.client_url", e.ClientURL); err != nil {
			return err
		}
		if err := checkURL("lock_engine.peer_url", e.PeerURL); err != nil {
			return err
		}
		if err := e.validatePeers(node); err != nil {
			return err
		}
	case EngineExternal:
		if len(e.Endpoints) == 0 {
			return keyErr("lock_engine.endpoints", "", "an external etcd needs at least one endpoint")
		}
		for i, ep := range e.Endpoints {
			if err := checkURL(fmt.Sprintf("lock_engine.endpoints[%d]", i), ep); err != nil {
				return err
			}
		}
		if (e.TLS.Cert == "") != (e.TLS.Key == "") {
			return keyErr("lock_engine.tls", "", "cert and key go together")
		}
	case EngineKernel:
		if node.Address == "" {
			return keyErr("node.address", "", "the kernel DLM needs this node's cluster address")
		}
	default:
		return keyErr("lock_engine.type", e.Type, "want one of "+strings.Join([]string{EngineEmbedded, EngineCluster, EngineExternal, EngineKernel}, ", "))
	}
	for _, f := range []struct{ key, path string }{{"ca", e.TLS.CA}, {"cert", e.TLS.Cert}, {"key", e.TLS.Key}} {
		if f.path != "" {
			if err := checkPath("lock_engine.tls."+f.key, f.path); err != nil {
				return err
			}
		}
	}
	return nil
}

// validatePeers checks an agent-formed cluster's member list: each name and each peer URL once
// (a member listed twice would count twice towards a quorum that does not exist).
func (e *LockEngine) validatePeers(node Node) error {
	if n := len(e.Peers); n != 3 && n != 5 {
		return keyErr("lock_engine.peers", fmt.Sprintf("%d peers", n), "an agent-formed etcd cluster has 3 or 5 members")
	}
	names, urls := map[string]int{}, map[string]int{}
	self := false
	for i, p := range e.Peers {
		key := fmt.Sprintf("lock_engine.peers[%d]", i)
		if !nameRe.MatchString(p.Name) {
			return keyErr(key+".name", p.Name, "want 1-63 letters, digits, '.', '_' or '-'")
		}
		if j, dup := names[p.Name]; dup {
			return keyErr(key+".name", p.Name, fmt.Sprintf("listed twice (lock_engine.peers[%d])", j))
		}
		names[p.Name] = i
		if err := checkURL(key+".peer_url", p.PeerURL); err != nil {
			return err
		}
		u, _ := url.Parse(p.PeerURL)
		hostPort := strings.ToLower(u.Host)
		if j, dup := urls[hostPort]; dup {
			return keyErr(key+".peer_url", p.PeerURL, fmt.Sprintf("listed twice (lock_engine.peers[%d])", j))
		}
		urls[hostPort] = i
		self = self || p.Name == node.Name
	}
	if !self {
		return keyErr("lock_engine.peers", node.Name, "node.name must be one of the peers")
	}
	return nil
}

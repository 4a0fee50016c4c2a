package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// defaultPeerURL fills an empty peer URL: the loopback for a member alone, this node's entry in
// the member list for an agent-formed cluster.
func (e *LockEngine) defaultPeerURL(node string) {
	if e.PeerURL != "" {
		return
	}
	switch e.Type {
	case EngineEmbedded:
		e.PeerURL = "http://127.0.0.1:2380"
	case EngineCluster:
		for _, p := range e.Peers {
			if p.Name == node {
				e.PeerURL = p.PeerURL
			}
		}
	}
}

// ClientTLSFiles is what the member serves its client URL with and what the agent's own client
// presents (mutual TLS); ok is false when the client side is plain http.
func (e *LockEngine) ClientTLSFiles() (t TLS, ok bool) {
	switch e.Type {
	case EngineEmbedded, EngineCluster:
		return e.TLS, scheme(e.ClientURL) == "https"
	case EngineExternal:
		return e.TLS, len(e.Endpoints) > 0 && scheme(e.Endpoints[0]) == "https"
	}
	return TLS{}, false
}

// RunsMember reports whether this node's agent runs an etcd member of the lock service
// (etcd-embedded, etcd-cluster), not only a client of it.
func (e *LockEngine) RunsMember() bool { return e.Type == EngineEmbedded || e.Type == EngineCluster }

// PeerTLSFiles is what the member serves its peer URL with and presents to the other members:
// peer_tls, or tls when peer_tls is empty; ok is false when the peer URLs are plain http.
func (e *LockEngine) PeerTLSFiles() (t TLS, ok bool) {
	if !e.RunsMember() {
		return TLS{}, false
	}
	t = e.PeerTLS
	if t.IsZero() {
		t = e.TLS
	}
	return t, scheme(e.PeerURL) == "https"
}

func (e *LockEngine) validate(node Node) error {
	if e.Prefix == "" || !strings.HasPrefix(e.Prefix, "/") || !strings.HasSuffix(e.Prefix, "/") {
		return keyErr("lock_engine.prefix", e.Prefix, "want a key prefix that starts and ends with /")
	}
	var urls []keyURL // every URL of the lock service this node serves or uses
	switch e.Type {
	case EngineEmbedded, EngineCluster:
		if err := checkPath("lock_engine.data_dir", e.DataDir); err != nil {
			return err
		}
		if e.Type == EngineCluster {
			if err := e.validatePeers(node); err != nil {
				return err
			}
		}
		urls = []keyURL{{"lock_engine.client_url", e.ClientURL}, {"lock_engine.peer_url", e.PeerURL}}
		for _, u := range urls {
			if err := checkURL(u.key, u.url); err != nil {
				return err
			}
			// The member advertises the URLs it listens on.
			if ip := net.ParseIP(hostname(u.url)); ip != nil && ip.IsUnspecified() {
				return keyErr(u.key, u.url, "want an address this node has (the URL is also advertised to the other members and clients)")
			}
		}
		for i, p := range e.Peers {
			key := fmt.Sprintf("lock_engine.peers[%d].peer_url", i)
			if p.Name == node.Name && !sameURL(p.PeerURL, e.PeerURL) {
				return keyErr("lock_engine.peer_url", e.PeerURL, fmt.Sprintf("want this node's entry in lock_engine.peers (%q)", p.PeerURL))
			}
			if scheme(p.PeerURL) != scheme(e.PeerURL) {
				return keyErr(key, p.PeerURL, fmt.Sprintf("want the scheme of lock_engine.peer_url (%s): http and https members cannot talk", scheme(e.PeerURL)))
			}
			urls = append(urls, keyURL{key, p.PeerURL})
		}
	case EngineExternal:
		if len(e.Endpoints) == 0 {
			return keyErr("lock_engine.endpoints", "", "an external etcd needs at least one endpoint")
		}
		for i, ep := range e.Endpoints {
			key := fmt.Sprintf("lock_engine.endpoints[%d]", i)
			if err := checkURL(key, ep); err != nil {
				return err
			}
			if scheme(ep) != scheme(e.Endpoints[0]) {
				return keyErr(key, ep, "want the scheme of lock_engine.endpoints[0]")
			}
			urls = append(urls, keyURL{key, ep})
		}
	case EngineKernel:
		if node.Address == "" {
			return keyErr("node.address", "", "the kernel DLM needs this node's cluster address")
		}
	default:
		return keyErr("lock_engine.type", e.Type, "want one of "+strings.Join([]string{EngineEmbedded, EngineCluster, EngineExternal, EngineKernel}, ", "))
	}
	if !e.Insecure {
		for _, u := range urls {
			if scheme(u.url) == "http" && !isLoopback(hostname(u.url)) {
				return keyErr(u.key, u.url, "plain http off the loopback lets anyone who reaches it take every lock: "+
					"use https with lock_engine.tls, or set lock_engine.insecure: true")
			}
		}
	}
	if err := e.validateRaftTiming(); err != nil {
		return err
	}
	return e.validateTLSKeys()
}

// RaftTiming is the member's heartbeat interval and election timeout, etcd's defaults (100ms,
// 1s) where the file sets none.
func (e *LockEngine) RaftTiming() (heartbeat, election time.Duration) {
	heartbeat, election = e.HeartbeatInterval.Duration, e.ElectionTimeout.Duration
	if heartbeat == 0 {
		heartbeat = 100 * time.Millisecond
	}
	if election == 0 {
		election = time.Second
	}
	return heartbeat, election
}

// validateRaftTiming checks the member's raft timing against etcd's own rules (an election
// timeout of at least five heartbeats, at most 50 s), with a heartbeat of 10ms to 1s.
func (e *LockEngine) validateRaftTiming() error {
	hb, el := e.HeartbeatInterval.Duration, e.ElectionTimeout.Duration
	if hb == 0 && el == 0 {
		return nil
	}
	if !e.RunsMember() {
		return keyErr("lock_engine.election_timeout", "", "only for etcd-embedded and etcd-cluster, whose member this node runs")
	}
	hb, el = e.RaftTiming()
	switch {
	case hb < 10*time.Millisecond || hb > time.Second:
		return keyErr("lock_engine.heartbeat_interval", hb.String(), "want 10ms to 1s")
	case el < 5*hb || el > 50*time.Second:
		return keyErr("lock_engine.election_timeout", el.String(), fmt.Sprintf("want at least five heartbeats (%s) and at most 50s", 5*hb))
	}
	return nil
}

// validateTLSKeys checks that every https URL has its three files and that no TLS section is
// set that nothing would use (it was dropped without a word).
func (e *LockEngine) validateTLSKeys() error {
	for _, s := range []struct {
		key string
		t   TLS
	}{{"lock_engine.tls", e.TLS}, {"lock_engine.peer_tls", e.PeerTLS}} {
		if s.t.IsZero() {
			continue
		}
		if s.t.CA == "" || s.t.Cert == "" || s.t.Key == "" {
			return keyErr(s.key, "", "want ca, cert and key together (mutual TLS: the CA verifies the other side, which must present a certificate too)")
		}
		for _, f := range []struct{ key, path string }{{"ca", s.t.CA}, {"cert", s.t.Cert}, {"key", s.t.Key}} {
			if err := checkPath(s.key+"."+f.key, f.path); err != nil {
				return err
			}
		}
	}
	switch e.Type {
	case EngineKernel:
		if !e.TLS.IsZero() || !e.PeerTLS.IsZero() {
			return keyErr("lock_engine.tls", "", "not used by kernel-dlm")
		}
		return nil
	case EngineExternal:
		if !e.PeerTLS.IsZero() {
			return keyErr("lock_engine.peer_tls", "", "only for etcd-embedded and etcd-cluster, whose member this node runs")
		}
	}
	clientTLS, clientHTTPS := e.ClientTLSFiles()
	peerTLS, peerHTTPS := e.PeerTLSFiles()
	what := "lock_engine.client_url"
	if e.Type == EngineExternal {
		what = "lock_engine.endpoints"
	}
	if clientHTTPS && clientTLS.IsZero() {
		return keyErr("lock_engine.tls", "", what+" is https: want ca, cert and key")
	}
	if peerHTTPS && peerTLS.IsZero() {
		return keyErr("lock_engine.peer_tls", "", "lock_engine.peer_url is https: want ca, cert and key (in peer_tls, or in tls for both)")
	}
	if !e.PeerTLS.IsZero() && !peerHTTPS {
		return keyErr("lock_engine.peer_tls", "", "set, but lock_engine.peer_url is http: TLS would be ignored")
	}
	tlsForPeers := peerHTTPS && e.PeerTLS.IsZero()
	if !e.TLS.IsZero() && !clientHTTPS && !tlsForPeers {
		if e.Type == EngineExternal {
			return keyErr("lock_engine.tls", "", "set, but lock_engine.endpoints is http: TLS would be ignored")
		}
		return keyErr("lock_engine.tls", "", "set, but no URL it serves is https: TLS would be ignored")
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

type keyURL struct{ key, url string }

func scheme(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Scheme
}

func hostname(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

func sameURL(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Scheme == ub.Scheme && strings.EqualFold(ua.Host, ub.Host)
}

// isLoopback: only this node can reach the host. A name other than localhost may resolve to
// anything, so it counts as off the loopback.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

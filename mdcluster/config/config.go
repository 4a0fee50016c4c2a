// Package config reads and validates mdclusterd's configuration file (YAML). Every key is
// documented in scripts/mdclusterd.example.yaml; Load rejects unknown keys and bad values with an
// error that names the key, so a typo never silently changes behaviour.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"mdcluster.dev/dlm"
)

// Lock engines.
const (
	EngineEmbedded = "etcd-embedded" // one in-process etcd member in DataDir (the default)
	EngineCluster  = "etcd-cluster"  // one member of an etcd cluster formed by the agents
	EngineExternal = "etcd-external" // an existing etcd cluster
	EngineKernel   = "kernel-dlm"    // the Linux kernel DLM, run by corosync and dlm_controld
)

// Array modes.
const (
	ModeClustered = "clustered" // md-cluster RAID1/RAID10: every node assembles it
	ModeExclusive = "exclusive" // any level: only the holder of the activation lease assembles it
)

// Config is the whole file.
type Config struct {
	Node       Node       `yaml:"node"`
	Cluster    Cluster    `yaml:"cluster"`
	LockEngine LockEngine `yaml:"lock_engine"`
	Arrays     []Array    `yaml:"arrays"`
	Leases     Leases     `yaml:"leases"`
	Resync     Resync     `yaml:"resync"`
	Listen     Listen     `yaml:"listen"`
	DLMControl DLMControl `yaml:"dlm_control"`
	Events     Events     `yaml:"events"`
	Scrub      Scrub      `yaml:"scrub"`
}

// Node identifies this server.
type Node struct {
	Name    string `yaml:"name"`
	ID      int    `yaml:"id"`      // 1..255, the kernel DLM node id too
	Address string `yaml:"address"` // IPv4 address the kernel DLM uses on the cluster network
}

// Cluster names the cluster; md-cluster arrays carry this name in their bitmap.
type Cluster struct {
	Name string `yaml:"name"`
	// SingleNode says that this node is the whole cluster. etcd-embedded is a lock service
	// private to its node: two nodes configured alike would each grant themselves every array,
	// so arrays on it are refused unless the file says no other node can see their disks.
	SingleNode bool `yaml:"single_node"`
}

// LockEngine selects and configures the lock and lease engine.
type LockEngine struct {
	Type string `yaml:"type"`
	// DataDir holds the embedded or agent-formed etcd member's data.
	DataDir string `yaml:"data_dir"`
	// ClientURL is this node's etcd member's client URL (embedded and cluster); the agent's own
	// client uses it.
	ClientURL string `yaml:"client_url"`
	// PeerURL is this node's member's peer URL. Empty: http://127.0.0.1:2380 for etcd-embedded,
	// this node's entry in Peers for etcd-cluster (so the file differs between the nodes only in
	// its node section).
	PeerURL string `yaml:"peer_url"`
	// Peers lists every member of an agent-formed cluster, this node included.
	Peers []Peer `yaml:"peers"`
	// Endpoints of an external etcd cluster.
	Endpoints []string `yaml:"endpoints"`
	// TLS is this node's certificate for etcd's client side: the member serves ClientURL with it
	// and requires a client certificate from the same CA; the agent's own client presents it.
	// It also serves the peer URL when PeerTLS is empty.
	TLS TLS `yaml:"tls"`
	// PeerTLS, when set, is used for the peer URLs instead of TLS (a separate peer CA).
	PeerTLS TLS `yaml:"peer_tls"`
	// Insecure allows plain http off the loopback. Anyone who reaches such a URL can read and
	// write every lock: the file has to say so.
	Insecure bool `yaml:"insecure"`
	// Prefix under which all lock keys live.
	Prefix string `yaml:"prefix"`
	// HeartbeatInterval and ElectionTimeout are the raft timing of the member this node runs
	// (etcd-embedded, etcd-cluster); zero keeps etcd's (100ms and 1s). A leader's crash costs
	// about two election timeouts before the survivors' leases count again, and every lease's
	// expiry is pushed back by one, so a dead holder's arrays move later when its node led.
	HeartbeatInterval Duration `yaml:"heartbeat_interval"`
	ElectionTimeout   Duration `yaml:"election_timeout"`
}

// Peer is one member of an agent-formed etcd cluster.
type Peer struct {
	Name    string `yaml:"name"`
	PeerURL string `yaml:"peer_url"`
}

// TLS names the files of mutual TLS: the CA that signs both sides, and this node's certificate
// and key. All three or none.
type TLS struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// IsZero reports whether no file is named.
func (t TLS) IsZero() bool { return t == TLS{} }

// Array is one md array the agent manages.
type Array struct {
	UUID    string   `yaml:"uuid"` // mdadm form, 8:8:8:8 hex
	Name    string   `yaml:"name"` // /dev/md/<name>
	Mode    string   `yaml:"mode"`
	Devices []string `yaml:"devices"` // member devices by stable path (/dev/disk/by-id/...)
}

// Leases sets the session and watchdog timing.
type Leases struct {
	// TTL of the node's session: its leases vanish this long after it stops renewing.
	TTL Duration `yaml:"ttl"`
	// Watchdog is the device petted while the session is valid ("" disables self-fencing).
	Watchdog string `yaml:"watchdog"`
	// WatchdogMargin: the node fences itself this long before its TTL would run out at others.
	WatchdogMargin Duration `yaml:"watchdog_margin"`
}

// Resync bounds cluster-wide resync and recovery.
type Resync struct {
	MaxConcurrent int `yaml:"max_concurrent"`
}

// Listen sets the agent's endpoints.
type Listen struct {
	APISocket string `yaml:"api_socket"`
	Metrics   string `yaml:"metrics"` // host:port, "" disables
	// MetricsWebConfig is a prometheus/exporter-toolkit web config file (TLS, basic auth).
	MetricsWebConfig string `yaml:"metrics_web_config"`
}

// Duration is a time.Duration written as "15s" in YAML.
type Duration struct{ time.Duration }

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 15s", n.Line, n.Value)
	}
	d.Duration = v
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// Default returns the values used for keys the file leaves out.
func Default() Config {
	c := Config{
		LockEngine: LockEngine{Type: EngineEmbedded, DataDir: "/var/lib/mdcluster/etcd",
			ClientURL: "http://127.0.0.1:2379", Prefix: "/mdcluster/"},
		Leases:     Leases{TTL: Duration{dlm.DefaultTTL}, WatchdogMargin: Duration{5 * time.Second}},
		Resync:     Resync{MaxConcurrent: 1},
		Listen:     Listen{APISocket: "/run/mdcluster/mdclusterd.sock", Metrics: "127.0.0.1:9810"},
		DLMControl: DLMControl{Mode: ControlOff},
	}
	day2Defaults(&c)
	return c
}

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	c, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// MaxFileSize bounds the configuration file and every file it names that the agent reads whole.
const MaxFileSize = 1 << 20

// Parse decodes a configuration over the defaults, rejecting unknown keys, validates it, then
// checks the files it names (CheckFiles).
func Parse(r io.Reader) (*Config, error) {
	c, err := parse(r)
	if err != nil {
		return nil, err
	}
	if err := c.CheckFiles(); err != nil {
		return nil, err
	}
	return c, nil
}

// parse is Parse without the file checks: bytes in, a valid configuration or one error out.
func parse(r io.Reader) (*Config, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileSize {
		return nil, errors.New("larger than 1 MiB (a configuration is a few kilobytes; nothing of it was used)")
	}
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(err)
	}
	c.LockEngine.defaultPeerURL(c.Node.Name)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

var unknownField = regexp.MustCompile(`line (\d+): field (\S+) not found in type config\.(\w+)`)

// yamlError turns the decoder's messages into one line naming the key.
func yamlError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg := te.Errors[0]
		if m := unknownField.FindStringSubmatch(msg); m != nil {
			return fmt.Errorf("line %s: unknown key %q (in %s)", m[1], m[2], sectionName(m[3]))
		}
		return errors.New(strings.TrimPrefix(msg, "yaml: "))
	}
	return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
}

func sectionName(goType string) string {
	names := map[string]string{"Config": "the top level", "Node": "node", "Cluster": "cluster",
		"LockEngine": "lock_engine", "Peer": "lock_engine.peers[]", "TLS": "lock_engine.tls or lock_engine.peer_tls",
		"Array": "arrays[]", "Leases": "leases", "Resync": "resync", "Listen": "listen", "DLMControl": "dlm_control",
		"Events": "events", "Scrub": "scrub"}
	if n, ok := names[goType]; ok {
		return n
	}
	return goType
}

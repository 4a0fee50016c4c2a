package md

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/prometheus/procfs"
)

// syncRemote is md-cluster's sync line on the nodes that do not run a resync themselves while
// another node does (drivers/md/md.c, status_resync: "\tresync=REMOTE"). procfs v0.23.0 knows
// "resync=PENDING" and "resync=DELAYED" but fails the whole file on it, as node_exporter does on
// every md-cluster peer during a resync.
var syncRemote = []byte("resync=REMOTE")

// readMDStat parses <proc>/mdstat with procfs. When procfs cannot parse it because of
// resync=REMOTE lines, those arrays are reported as procfs reports a pending resync (state
// resyncing, no blocks synced here), which is what this node can say of them.
func readMDStat(proc string) ([]procfs.MDStat, error) {
	pfs, err := procfs.NewFS(proc)
	if err != nil {
		return nil, err
	}
	st, err := pfs.MDStat()
	if err == nil {
		return st, nil
	}
	data, rerr := os.ReadFile(filepath.Join(proc, "mdstat"))
	if rerr != nil || !bytes.Contains(data, syncRemote) {
		return nil, err
	}
	dir, terr := os.MkdirTemp("", "mdcluster-mdstat")
	if terr != nil {
		return nil, fmt.Errorf("%w (and a copy without resync=REMOTE: %v)", err, terr)
	}
	defer os.RemoveAll(dir)
	if werr := os.WriteFile(filepath.Join(dir, "mdstat"), bytes.ReplaceAll(data, syncRemote, []byte("resync=PENDING")), 0o600); werr != nil {
		return nil, fmt.Errorf("%w (and a copy without resync=REMOTE: %v)", err, werr)
	}
	if pfs, err = procfs.NewFS(dir); err != nil {
		return nil, err
	}
	return pfs.MDStat()
}

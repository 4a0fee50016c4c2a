package scenario

import (
	"context"
	"fmt"

	"mdcluster.dev/internal/vmlab"
)

// cmpCorosyncEnv runs Debian's corosync tools and libraries (the real libcmap among them), kept in
// a private directory in the lab's initramfs.
const cmpCorosyncEnv = "LD_LIBRARY_PATH=/usr/lib/corosync "

// cmpCorosyncConf is a two-node corosync 3 configuration at its defaults (token timeout included)
// but for the transport's crypto, which the lab leaves out.
const cmpCorosyncConf = `totem {
    version: 2
    cluster_name: mdlab
    transport: knet
    crypto_cipher: none
    crypto_hash: none
}
nodelist {
    node {
        ring0_addr: 192.168.100.1
        nodeid: 1
        name: node1
    }
    node {
        ring0_addr: 192.168.100.2
        nodeid: 2
        name: node2
    }
}
quorum {
    provider: corosync_votequorum
    two_node: 1
}
logging {
    to_stderr: yes
    to_logfile: no
    to_syslog: no
    timestamp: on
}`

// launchCmpCorosync writes the configuration and starts corosync on node; with two_node (and so
// wait_for_all) it becomes quorate only once both nodes run it.
func launchCmpCorosync(ctx context.Context, l *vmlab.Lab, node int) error {
	_, err := step(ctx, l, node, quick, "start corosync", fmt.Sprintf(`dmesg -n 7
mkdir -p /etc/corosync /var/lib/corosync /var/log/cluster /run/dlm /var/run
cat > /etc/corosync/corosync.conf <<'EOF'
%s
EOF
(%scorosync -f > /tmp/corosync.log 2>&1 &)`, cmpCorosyncConf, cmpCorosyncEnv))
	return err
}

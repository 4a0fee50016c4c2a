package scenario

import (
	"context"
	"fmt"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// PacemakerOptions is the lab PacemakerMove needs: two guests on the private network sharing two
// small disks.
var PacemakerOptions = vmlab.Options{Nodes: 2, Disks: 2, DiskSize: 64 << 20}

// pcmkCorosyncConf is a two-node corosync 3 cluster on the lab's private network (knet, no crypto:
// the lab network is a host-local hub).
const pcmkCorosyncConf = `totem {
	version: 2
	cluster_name: mdlab
	transport: knet
	crypto_cipher: none
	crypto_hash: none
}
nodelist {
	node {
		ring0_addr: 192.168.100.1
		name: node1
		nodeid: 1
	}
	node {
		ring0_addr: 192.168.100.2
		name: node2
		nodeid: 2
	}
}
quorum {
	provider: corosync_votequorum
	two_node: 1
}
logging {
	to_logfile: yes
	logfile: /var/log/corosync.log
	to_stderr: no
	to_syslog: no
	timestamp: on
}
`

// pcmkEnv is the environment of the cluster daemons and tools: their libraries are in
// /usr/lib/pcmk (see scripts/ocf/build-lab-overlay.sh).
const pcmkEnv = "export LD_LIBRARY_PATH=/usr/lib/pcmk PCMK_logfile=/var/log/pacemaker/pacemaker.log; "

// startPacemaker starts corosync and Pacemaker on a node (Debian's binaries, unpacked with
// dpkg-deb -x into the lab's initramfs).
func startPacemaker(ctx context.Context, l *vmlab.Lab, node int) error {
	script := pcmkEnv + `set -e
mkdir -p /etc/corosync /var/lib/corosync /var/log/pacemaker /var/lib/pacemaker/cib /var/lib/pacemaker/pengine \
  /var/lib/pacemaker/blackbox /var/lib/pacemaker/cores /var/run/crm
chown -R hacluster:haclient /var/lib/pacemaker /var/log/pacemaker /var/run/crm
cat > /etc/corosync/corosync.conf <<'EOF'
` + pcmkCorosyncConf + `EOF
setsid corosync -f > /tmp/corosync.out 2>&1 < /dev/null &
i=0; until corosync-cfgtool -s > /dev/null 2>&1; do i=$((i+1)); [ $i -lt 100 ] || { cat /tmp/corosync.out /var/log/corosync.log; exit 1; }; sleep 0.3; done
setsid pacemakerd > /tmp/pacemakerd.out 2>&1 < /dev/null &
sleep 1
pidof pacemakerd > /dev/null || { cat /tmp/pacemakerd.out; tail -30 /var/log/pacemaker/pacemaker.log; exit 1; }`
	_, err := step(ctx, l, node, slow, "start corosync and pacemakerd", script)
	return err
}

// waitLocate waits until crm_mon shows rsc started on want (a node name), or stopped for "" (and
// crm_resource --locate agrees). --locate alone will not do: Pacemaker records pending
// operations, so it names the node while the start still runs there.
func waitLocate(ctx context.Context, l *vmlab.Lab, rsc, want string) error {
	state := "Started " + want + "$"
	what := "Pacemaker runs " + rsc + " on " + want
	if want == "" {
		state, what = "Stopped", "Pacemaker stopped "+rsc+" everywhere"
	}
	script := fmt.Sprintf(pcmkEnv+`i=0
while [ $i -lt 150 ]; do
  out=$(crm_mon -1 -r 2>&1)
  loc=$(crm_resource --locate -r %[1]s 2>&1)
  case "%[3]s $loc" in Stopped*"NOT running"* | Started*"is running on"*)
    echo "$out" | grep -Eq '^ *\* %[1]s[[:space:]]+\(ocf:mdcluster:mdcluster\):[[:space:]]+%[2]s' && { echo "$out"; exit 0; } ;;
  esac
  sleep 0.5; i=$((i+1))
done
echo "$out" "$loc" >&2; exit 1`, rsc, state, strings.Fields(state)[0])
	_, err := step(ctx, l, 1, slow, what, script)
	return err
}

// mdOn reports the md devices running on a node whose UUID is uuid.
func mdOn(ctx context.Context, l *vmlab.Lab, node int, uuid string) (string, error) {
	want := strings.ReplaceAll(uuid, ":", "")
	return step(ctx, l, node, quick, "md arrays with UUID "+uuid, fmt.Sprintf(
		`for d in /sys/block/md*/md; do [ -d "$d" ] || continue; u=$(sed 's/-//g' $d/uuid); [ "$u" = %s ] && echo "$d" | cut -d/ -f4; done; true`, want))
}

// PacemakerMove has Pacemaker (Debian's pacemaker 2.1 and corosync 3 on two guests) run an
// exclusive RAID1 through the OCF agent: the resource starts on one node with two recurring
// monitors (depth 0 and depth 10), is moved to the other (stopped there first, then assembled
// here), fails there (both members failed: broken) and is recovered by Pacemaker (stop, start,
// degraded), and is stopped; after each transition the array runs on exactly the node Pacemaker
// names.
func PacemakerMove(ctx context.Context, l *vmlab.Lab) error {
	u, err := pacemakerCluster(ctx, l)
	if err != nil {
		return err
	}
	at, err := addResource(ctx, l, u)
	if err != nil {
		return err
	}
	if err := runsOnlyOn(ctx, l, u, at); err != nil {
		return err
	}
	to, err := moveResource(ctx, l, u, at)
	if err != nil {
		return err
	}
	if err := failedArrayRecovered(ctx, l, u, to); err != nil {
		return err
	}
	return cleanupAndStop(ctx, l, u, to)
}

// pacemakerCluster installs the package on both nodes, creates the RAID1 (stopped), starts
// Pacemaker on both and waits until both are online with a DC; it returns the array's UUID.
func pacemakerCluster(ctx context.Context, l *vmlab.Lab) (string, error) {
	for n := 1; n <= 2; n++ {
		if _, err := installDeb(ctx, l, n); err != nil {
			return "", err
		}
	}
	u, err := arrayUUID(ctx, l, "md0", "mdadm --create RAID1 (internal bitmap) on vda vdb, then stop it",
		"--level=1 --raid-devices=2 --bitmap=internal --metadata=1.2 /dev/vda /dev/vdb")
	if err != nil {
		return "", err
	}
	for n := 1; n <= 2; n++ {
		if err := startPacemaker(ctx, l, n); err != nil {
			return "", err
		}
	}
	if _, err := step(ctx, l, 1, slow, "both nodes online with a DC", pcmkEnv+`i=0
while [ $i -lt 360 ]; do
  out=$(crm_mon -1 2>&1)
  case "$out" in *"Online: [ node1 node2 ]"*) case "$out" in *"Current DC: node"*) echo "$out"; exit 0 ;; esac ;; esac
  sleep 0.5; i=$((i+1))
done
echo "$out" >&2; tail -40 /var/log/pacemaker/pacemaker.log >&2; exit 1`); err != nil {
		return "", err
	}
	return u, nil
}

// addResource puts the md resource in the CIB (no fencing in the lab) and returns the node
// Pacemaker starts it on.
func addResource(ctx context.Context, l *vmlab.Lab, u string) (int, error) {
	rsc := fmt.Sprintf(`<primitive id="md" class="ocf" provider="mdcluster" type="mdcluster">
<instance_attributes id="md-ia"><nvpair id="md-uuid" name="uuid" value="%s"/></instance_attributes>
<operations>
<op id="md-mon" name="monitor" interval="10s" timeout="30s"/>
<op id="md-mon-deep" name="monitor" interval="15s" timeout="30s"><instance_attributes id="md-mon-deep-ia"><nvpair id="md-mon-deep-level" name="OCF_CHECK_LEVEL" value="10"/></instance_attributes></op>
</operations>
</primitive>`, u)
	if _, err := step(ctx, l, 1, quick, "CIB: no fencing in the lab, the md resource", pcmkEnv+`set -e
crm_attribute --type crm_config --name stonith-enabled --update false
cibadmin --create -o resources --xml-text '`+strings.ReplaceAll(rsc, "\n", "")+`'`); err != nil {
		return 0, err
	}
	// Wherever Pacemaker starts it first, the array must run there and only there.
	var at int
	for n := 1; n <= 2 && at == 0; n++ {
		if err := waitLocate(ctx, l, "md", fmt.Sprintf("node%d", n)); err == nil {
			at = n
		}
	}
	if at == 0 {
		return 0, fmt.Errorf("md was started on no node by Pacemaker")
	}
	return at, nil
}

// moveResource waits for both recurring monitors, moves md to the other node and returns it.
func moveResource(ctx context.Context, l *vmlab.Lab, u string, at int) (int, error) {
	// Let both recurring monitors run at least once.
	if _, err := step(ctx, l, 1, slow, "both recurring monitors ran", pcmkEnv+`i=0
while [ $i -lt 120 ]; do
  out=$(crm_mon -1 -o 2>&1)
  n=$(echo "$out" | grep -c 'monitor: interval="1[05]000ms"')
  [ "$n" -ge 2 ] && { echo "$out"; exit 0; }
  sleep 0.5; i=$((i+1))
done
echo "$out" >&2; exit 1`); err != nil {
		return 0, err
	}
	to := 3 - at
	t0 := time.Now()
	if _, err := step(ctx, l, 1, quick, fmt.Sprintf("crm_resource --move md to node%d", to),
		fmt.Sprintf(pcmkEnv+"crm_resource --move -r md --node node%d 2>&1", to)); err != nil {
		return 0, err
	}
	if err := waitLocate(ctx, l, "md", fmt.Sprintf("node%d", to)); err != nil {
		return 0, err
	}
	l.Logf("Pacemaker moved md from node%d to node%d in %.1fs", at, to, time.Since(t0).Seconds())
	if err := runsOnlyOn(ctx, l, u, to); err != nil {
		return 0, err
	}
	return to, nil
}

// failedArrayRecovered fails both members of the running array and waits for Pacemaker to
// record the failed monitor and start md again, degraded, where it was.
func failedArrayRecovered(ctx context.Context, l *vmlab.Lab, u string, to int) error {
	// A failed array: both members of the running RAID1 fail (md keeps the last one, and marks the
	// array broken). The recurring monitor reports it, Pacemaker stops the array and starts it
	// again where it was; it comes back degraded, on the member md kept.
	md, err := mdOn(ctx, l, to, u)
	if err != nil {
		return err
	}
	S := "/sys/block/" + md + "/md"
	if _, err := step(ctx, l, to, quick, "fail both members of "+md,
		"echo faulty > "+S+"/dev-vdb/state; echo faulty > "+S+"/dev-vda/state; cat "+S+"/array_state"); err != nil {
		return err
	}
	if _, err := step(ctx, l, 1, slow, "Pacemaker records the failed monitor and recovers md", fmt.Sprintf(pcmkEnv+`i=0
while [ $i -lt 100 ]; do
  out=$(crm_mon -1 2>&1)
  case "$out" in *"Failed Resource Actions"*"monitor on node%[1]d returned 'error'"*) echo "$out" | grep -Eq 'mdcluster\):[[:space:]]+Started node%[1]d$' && { echo "$out"; exit 0; } ;; esac
  sleep 0.5; i=$((i+1))
done
echo "$out" >&2; grep -E 'mdcluster|md_' /var/log/pacemaker/pacemaker.log | tail -40 >&2; exit 1`, to)); err != nil {
		return err
	}
	if err := runsOnlyOn(ctx, l, u, to); err != nil {
		return err
	}
	md, err = mdOn(ctx, l, to, u)
	if err != nil {
		return err
	}
	if got, err := sysfs(ctx, l, to, md, "degraded"); err != nil {
		return err
	} else if err := expect("degraded after Pacemaker's recovery", got, "1"); err != nil {
		return err
	}
	return nil
}

// cleanupAndStop cleans md's history up (Pacemaker finds it running where it was), stops it
// with target-role Stopped and requires no failed action left.
func cleanupAndStop(ctx context.Context, l *vmlab.Lab, u string, to int) error {
	if _, err := step(ctx, l, 1, quick, "crm_resource --cleanup md", pcmkEnv+"crm_resource --cleanup -r md 2>&1"); err != nil {
		return err
	}
	// The cleanup drops md's history: Pacemaker probes it again and finds it running where it was.
	if err := waitLocate(ctx, l, "md", fmt.Sprintf("node%d", to)); err != nil {
		return err
	}
	if _, err := step(ctx, l, 1, quick, "target-role Stopped",
		pcmkEnv+"crm_resource -r md --meta --set-parameter target-role --parameter-value Stopped 2>&1"); err != nil {
		return err
	}
	if err := waitLocate(ctx, l, "md", ""); err != nil {
		return err
	}
	if err := runsOnlyOn(ctx, l, u, 0); err != nil {
		return err
	}
	_, err := step(ctx, l, 1, quick, "no failed actions", pcmkEnv+`out=$(crm_mon -1 2>&1); echo "$out"; ! echo "$out" | grep -q 'Failed Resource Actions'`)
	return err
}

// runsOnlyOn requires array u to run on node on (0: on no node) and on no other node.
func runsOnlyOn(ctx context.Context, l *vmlab.Lab, u string, on int) error {
	for n := 1; n <= 2; n++ {
		got, err := mdOn(ctx, l, n, u)
		if err != nil {
			return err
		}
		if (n == on) != (got != "") {
			diag, _ := l.Node(n).Run(ctx, pcmkEnv+"cat /proc/mdstat; for f in /sys/block/md*/md/uuid /sys/block/md*/md/array_state; do echo $f: $(cat $f); done; crm_mon -1 -o; grep -E 'mdcluster' /var/log/pacemaker/pacemaker.log | tail -30")
			return fmt.Errorf("node%d runs %q for array %s; Pacemaker says node%d\nnode%d:\n%s%s", n, got, u, on, n, diag.Stdout, diag.Stderr)
		}
	}
	return nil
}

package cli

import "fmt"

const helpOptions = `mdcadm accepts mdadm's command line. Arguments that do not start with '-'
are device names; the first one is usually the md array.

Read-only modes (implemented):
  --examine        -E : show the md superblock of member devices or image files
  --examine-bitmap -X : show the write-intent bitmap (every cluster slot) of a
                        member device or image file, or a bitmap file
  --detail         -D : show a running array (add --scan for every array)
  --query          -Q : say what a device is to md
  --brief          -b : shorter output; --scan implies it
  --export         -Y : key=value output of --examine
  --json              : JSON output of --examine, --examine-bitmap, --detail
                        and --query (with --scan too): one JSON value per
                        device or array
  --verbose -v, --quiet -q, --homehost=, --config= as in mdadm

Changing modes (run the real mdadm with the same arguments, under the local
mdclusterd's leases; refused with one line naming the holder):
  --create -C, --assemble -A, --incremental -I : activation lease (exclusive arrays)
  --manage --add/--re-add/--add-spare/--replace : recovery lease
  --manage --fail/--remove/--cluster-confirm    : no lease
  --grow -G                                     : admin lease, released after mdadm
  --stop -S, --run -R, --readonly -o, --readwrite -w
  On a clustered array, what md-cluster does not carry to the other nodes is
  refused: --chunk, --layout, --level, --array-size, --data-offset, --bitmap,
  --consistency-policy, fewer RAID10 devices, --write-mostly, --failfast.
  --no-cluster-guard  : run mdadm without asking the agent for leases (arrays
                        the agent does not manage are refused without it)
  --agent-socket=PATH : the agent's API socket (default $MDCLUSTER_SOCKET, else
                        /run/mdcluster/mdclusterd.sock); the cluster's name,
                        lock engine, arrays and holders all come from there
  --cluster-status    : the agent's members, arrays, leases and resyncs, and
                        the bitmap slots of local arrays (add --json for JSON)

--build, --monitor, --auto-detect and the other misc actions are recognised
but not run yet.
`

const helpConfig = `mdcadm reads mdadm's configuration file (/etc/mdadm/mdadm.conf) for
HOMEHOST and the DEVICE lines that --examine --scan looks at; see mdadm.conf(5).
`

// help returns the help text of a mode.
func help(m Mode) string {
	switch m {
	case ModeMisc:
		return "Usage: mdcadm --misc options... devices\n\n" + helpOptions
	case ModeNone:
		return "Usage: mdcadm --examine|--examine-bitmap|--detail|--query options... devices\n\n" + helpOptions
	}
	switch m {
	case ModeCreate, ModeAssemble, ModeManage, ModeGrow, ModeIncremental:
		return fmt.Sprintf("Usage: mdcadm --%s ...\n\nmdcadm runs the real mdadm's --%s under mdclusterd's leases; see mdadm(8) for its options.\n\n", m, m) + helpOptions
	}
	return fmt.Sprintf("Usage: mdcadm --%s ...\n\nThe %s mode is not implemented yet (%s).\n", m, m, notYet)
}

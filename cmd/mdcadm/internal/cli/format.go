package cli

import (
	"fmt"

	"mdcluster.dev/cmd/mdcadm/internal/mdadmview"
)

// humanSize is mdadm's human_size: " (x.yy MiB x.yy MB)" from 5000 KiB on.
func humanSize(bytes uint64) string { return mdadmview.HumanSize(int64(bytes)) }

// humanSizeBrief is mdadm's human_size_brief with IEC prefixes.
func humanSizeBrief(bytes uint64) string {
	b := int64(bytes)
	switch {
	case b < 5000*1024:
		return ""
	case b < 2<<30:
		c := (b*200/(1<<20) + 1) / 2
		return fmt.Sprintf("%d.%02dMiB", c/100, c%100)
	case b < 2<<40:
		c := (b*200/(1<<30) + 1) / 2
		return fmt.Sprintf("%d.%02dGiB", c/100, c%100)
	}
	c := (b*200/(1<<40) + 1) / 2
	return fmt.Sprintf("%d.%02dTiB", c/100, c%100)
}

// ctime24 formats t like "%.24s" of ctime(3).
func ctime24(t interface{ Format(string) string }) string {
	return t.Format("Mon Jan _2 15:04:05 2006")
}

// printQuoted is mdadm's print_quoted: s in quotes only if it holds
// white space or quotes.
func printQuoted(s string) string { return mdadmview.Quoted(s) }

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
  --no-cluster-guard  : run mdadm without asking the agent (arrays the agent
                        does not manage are refused without it)
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

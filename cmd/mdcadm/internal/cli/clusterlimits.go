package cli

import (
	"fmt"
	"strconv"
	"strings"

	"mdcluster.dev/mdcluster/md"
)

// md-cluster runs one array on several nodes, each with its own md
// driver. A change made on one node reaches the others only through
// md-cluster's messages: METADATA_UPDATED makes them re-read the
// superblock, and the kernel's check_sb_changes (drivers/md/md.c) then
// takes over device roles, raid_disks and the reshape position, nothing
// else. Whatever else a node changes stays on that node, and the nodes
// then disagree about the array. Item 18 of the review showed it: after
// `mdadm --grow --chunk=128` of a clustered RAID10 the node that ran it
// uses 128K chunks and the other keeps 64K, so they read and write data
// at different places.
//
// The guard refuses these changes on a clustered array before it asks
// for any lease. Each limit names what it rests on.
type clusterLimit struct {
	codes  []int  // options that make the change (any of them)
	what   string // the change, for the message
	reason string // why md-cluster cannot carry it
}

// growLimits are the --grow changes md-cluster does not carry.
var growLimits = []clusterLimit{
	// check_sb_changes does not re-read new_chunk: the other nodes reshape
	// with their own chunk size (item 18, shown in the VM by the scenario
	// MdcadmClusterChunk).
	{[]int{'c', optChunkSize}, "a chunk size change",
		"the other nodes keep their chunk size and place data elsewhere"},
	// Nor new_layout. mdadm 4.2 also allows only near layouts for a
	// clustered RAID10 (mdadm.c at --create, Grow.c at --bitmap=clustered:
	// "only near layout is supported with clustered raid10").
	{[]int{'p', optLayout}, "a layout change",
		"the other nodes keep their layout and place data elsewhere"},
	// Nor new_level; and md-cluster runs RAID1 and RAID10 only
	// (md-cluster.rst; mdadm.c: "--bitmap=clustered is currently
	// supported with raid1/10 only").
	{[]int{'l'}, "a level change",
		"the other nodes keep their level, and md-cluster runs RAID1 and RAID10 only"},
	// md-cluster.rst, "Unsupported features": "change array_sectors"; the
	// kernel's array_size_store answers EINVAL on a clustered array.
	{[]int{'Z'}, "an array size change (--array-size)",
		"md-cluster does not support changing array_sectors (md-cluster.rst)"},
	// Removing the bitmap needs every node's bitmap lock (the kernel's
	// lock_all_bitmaps: refused while another node runs the array);
	// adding one writes the bitmap on this node only; a consistency
	// policy change adds or removes it (mdadm's Grow_consistency_policy).
	{[]int{'b', optBitmap, optBitmapChunk, optWriteBehind, optNodes, 'k'}, "a bitmap change",
		"each node uses its own slot of the clustered bitmap while the array runs; change it with the array stopped on every other node"},
	// check_sb_changes does not re-read new_offset: the other nodes would
	// go on reading data at the old offset.
	{[]int{optDataOffset}, "a data offset change",
		"the other nodes keep reading data at the old offset"},
}

// manageLimits are the --manage changes md-cluster does not carry.
var manageLimits = []clusterLimit{
	// A device flag, set on this node only: md-cluster's NEWDISK message
	// carries a device's UUID and slot, not its flags, and
	// check_sb_changes does not re-read them. mdadm 4.2 refuses
	// --write-mostly with a clustered bitmap at --create (Create.c) and
	// at --grow --bitmap=clustered (Grow.c). In --manage, -w and
	// --readwrite clear the flag.
	{[]int{'W', optWriteMostly, 'w'}, "a write-mostly change",
		"it is a device flag md sets on this node only"},
	// The same for failfast.
	{[]int{optFailFast, optNoFailFast}, "a failfast change",
		"it is a device flag md sets on this node only"},
	// A re-add goes through md-cluster's new-disk request, and the node
	// that re-adds rebuilds the member from its own bitmap only: the
	// other nodes' writes made while it was out are lost (the fault
	// campaign's finding; the agents refuse the request too). A plain
	// --add of a former member passes here: mdadm tries a re-add first
	// (Manage.c), which the agents refuse, and then will not turn an
	// active member into a spare until its superblock is zeroed.
	{[]int{optReAdd}, "a re-add",
		"the re-adding node would rebuild the member from its own bitmap only, losing the other nodes' writes made while it was out; zero its superblock (--zero-superblock) and --add it for a full rebuild"},
}

// clusterRefusal refuses a --grow or --manage of a clustered array that
// md-cluster cannot carry to the other nodes (see clusterLimit); nil when
// the command may run. mdadm's exit code for an unsupported change is 1.
func (e *Env) clusterRefusal(c *Config, p *plan) *refusal {
	if !p.clustered || len(p.targets) == 0 {
		return nil
	}
	t := p.targets[0]
	limits := manageLimits
	if c.Mode == ModeGrow {
		limits = growLimits
		if why := e.raid10Shrink(c, t); why != "" {
			return clusterRefused(t, "fewer raid devices", why)
		}
	}
	for _, l := range limits {
		if c.has(l.codes...) {
			return clusterRefused(t, l.what, l.reason)
		}
	}
	return nil
}

func clusterRefused(t target, what, why string) *refusal {
	return refuse(1, "array %s is clustered: md-cluster does not carry %s to the other nodes (%s); not running mdadm", t.from, what, why)
}

// raid10Shrink explains why a --raid-devices decrease of a clustered
// RAID10 is refused, or returns "". md-cluster carries a RAID10 reshape
// that adds devices (the kernel's raid10_start_reshape resizes every
// node's bitmap slot, and check_sb_changes starts the reshape on the
// other nodes) but a shrink first needs --array-size, which md-cluster
// refuses, and no kernel path resizes the other slots downwards.
func (e *Env) raid10Shrink(c *Config, t target) string {
	n, ok := c.optArg('n')
	if !ok || t.devnm == "" {
		return ""
	}
	want, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil {
		return "" // mdadm says what is wrong with it
	}
	fs, err := md.NewFS(e.Root)
	if err != nil {
		return ""
	}
	a, err := fs.Array(t.devnm)
	if err != nil || a.Level != "raid10" || want >= a.RaidDisks {
		return ""
	}
	have := a.RaidDisks
	return fmt.Sprintf("md-cluster carries a RAID10 reshape that adds devices, not one that removes them (%d to %d)", have, want)
}

package doctor

import (
	"fmt"
	"slices"
	"strings"
)

// checkSameDisks compares, for every array, the disk each node finds behind each configured
// path (the device UUID in its md superblock): a path that names another disk on one node
// makes that node assemble, resync or confirm the wrong member.
func checkSameDisks(nodes []string, byNode map[string]Facts) []Result {
	type seen struct{ node, uuid string }
	paths := map[string]map[string][]seen{} // array -> path -> who saw which device
	var arrays []string
	for _, n := range nodes {
		for _, a := range byNode[n].Arrays {
			if paths[a.Name] == nil {
				paths[a.Name] = map[string][]seen{}
				arrays = append(arrays, a.Name)
			}
			for _, d := range a.Devices {
				if d.DeviceUUID != "" {
					paths[a.Name][d.Path] = append(paths[a.Name][d.Path], seen{n, d.DeviceUUID})
				}
			}
		}
	}
	slices.Sort(arrays)
	var out []Result
	for _, name := range arrays {
		r := Result{Check: "same disks " + name, Node: "cluster", Status: StatusOK}
		var bad []string
		compared := 0
		for _, p := range slices.Sorted(mapKeys(paths[name])) {
			groups := map[string][]string{}
			for _, s := range paths[name][p] {
				groups[s.uuid] = append(groups[s.uuid], s.node)
			}
			if len(groups) > 1 {
				var g []string
				for _, u := range slices.Sorted(mapKeys(groups)) {
					g = append(g, strings.Join(groups[u], ", ")+" see "+u)
				}
				bad = append(bad, p+": "+strings.Join(g, "; "))
			}
			compared++
		}
		if len(bad) > 0 {
			r.Status, r.Detail = StatusFail, "a path names different disks: "+strings.Join(bad, " | ")
			r.Advice = "configure paths that name the disk itself on every node (/dev/disk/by-id/wwn-…), not its place (by-path, sdX)"
		} else {
			r.Detail = fmt.Sprintf("%d paths name the same disk (md device UUID) on every node that reported", compared)
		}
		out = append(out, r)
	}
	return out
}

// checkClusterName: one cluster name in every node's configuration, and in the bitmaps of the
// md-cluster arrays (the kernel DLM compares it byte for byte).
func checkClusterName(nodes []string, byNode map[string]Facts) Result {
	r := Result{Check: "cluster name", Node: "cluster"}
	names := map[string][]string{}
	var bitmaps []string
	for _, n := range nodes {
		f := byNode[n]
		names[f.Cluster] = append(names[f.Cluster], n)
		for _, a := range f.Arrays {
			for _, d := range a.Devices {
				if d.Cluster != "" && d.Cluster != f.Cluster {
					bitmaps = append(bitmaps, fmt.Sprintf("%s on %s: bitmap of %s says %q", a.Name, n, d.Path, d.Cluster))
				}
			}
		}
	}
	switch {
	case len(names) > 1:
		var g []string
		for _, c := range slices.Sorted(mapKeys(names)) {
			g = append(g, fmt.Sprintf("%q on %s", c, strings.Join(names[c], ", ")))
		}
		r.Status, r.Detail = StatusFail, "the nodes disagree: "+strings.Join(g, "; ")
		r.Advice = "use one cluster.name on every node: the one the md-cluster arrays were created with"
	case len(bitmaps) > 0:
		r.Status, r.Detail = StatusFail, strings.Join(slices.Compact(bitmaps), "; ")
		r.Advice = "cluster.name must be the name in the arrays' bitmaps (mdadm --examine-bitmap shows it): the DLM refuses any other"
	default:
		for c := range names {
			r.Status, r.Detail = StatusOK, fmt.Sprintf("%q on %d node(s) and in every clustered bitmap", c, len(nodes))
		}
	}
	return r
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"mdcluster.dev/bitmap"
	"mdcluster.dev/mdcluster/api"
	"mdcluster.dev/mdcluster/md"
)

// clusterReport is --cluster-status --json: the agent's status and the
// bitmap slots of every array assembled here or with members here.
type clusterReport struct {
	Status  api.Status    `json:"status"`
	Bitmaps []arrayBitmap `json:"bitmaps"`
}

// arrayBitmap is one array's write-intent bitmap as read from a member.
type arrayBitmap struct {
	Array     string       `json:"array"`
	UUID      string       `json:"uuid"`
	Member    string       `json:"member,omitempty"`
	Cluster   string       `json:"cluster_name,omitempty"`
	ChunkSize uint32       `json:"chunk_bytes,omitempty"`
	Slots     []bitmapSlot `json:"slots"`
	Error     string       `json:"error,omitempty"`
}

// bitmapSlot is one node slot of a bitmap.
type bitmapSlot struct {
	Slot    int             `json:"slot"`
	Events  uint64          `json:"events"`
	Chunks  uint64          `json:"chunks"`
	Dirty   uint64          `json:"dirty"`
	Extents []bitmap.Extent `json:"dirty_extents,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// maxStatusExtents caps the dirty extents listed per slot.
const maxStatusExtents = 32

// clusterStatus is `mdcadm --cluster-status [--json]`.
func clusterStatus(args []string, env *Env) int {
	asJSON := false
	for _, a := range args {
		if a != "--json" {
			fmt.Fprintf(env.Stderr, "%s: --cluster-status takes only --json, not %s\n", Prog, a)
			return 2
		}
		asJSON = true
	}
	st, err := api.NewClient(env.Socket).Status(context.Background())
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: mdclusterd does not answer on %s: %s\n", Prog, env.Socket, errText(err))
		return 1
	}
	rep := clusterReport{Status: st, Bitmaps: []arrayBitmap{}}
	for _, a := range st.Arrays {
		if b, ok := env.arrayBitmap(a); ok {
			rep.Bitmaps = append(rep.Bitmaps, b)
		}
	}
	if asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(env.Stderr, "%s: write status: %v\n", Prog, err)
			return 1
		}
		return 0
	}
	var b strings.Builder
	writeReport(&b, &rep)
	if _, err := fmt.Fprint(env.Stdout, b.String()); err != nil {
		return 1
	}
	return 0
}

// arrayBitmap reads an array's bitmap from its first readable member:
// the running array's members, else local devices carrying its superblock.
func (e *Env) arrayBitmap(a api.ArrayStatus) (arrayBitmap, bool) {
	want := mdadmForm(a.UUID)
	out := arrayBitmap{Array: a.Name, UUID: a.UUID}
	cands := e.candidates(a.Device)
	var firstErr error
	for _, dev := range cands {
		m, err := bitmap.Open(dev)
		if err != nil {
			continue
		}
		bm, sberr := readMemberBitmap(m, want)
		m.Close()
		if sberr == errNotMember {
			continue
		}
		if bm == nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", dev, sberr)
			}
			continue
		}
		out.Member, out.Cluster, out.ChunkSize = dev, strings.TrimRight(string(bm.Super.ClusterName[:]), "\x00"), bm.Super.ChunkSize
		for _, s := range bm.Slots {
			bs := bitmapSlot{Slot: s.Index, Chunks: s.Chunks, Dirty: s.Dirty, Extents: s.Extents}
			if s.Super != nil {
				bs.Events = s.Super.Events
			}
			if s.Err != nil {
				bs.Error = s.Err.Error()
			}
			out.Slots = append(out.Slots, bs)
		}
		return out, true
	}
	if firstErr != nil {
		out.Error = firstErr.Error()
		return out, true
	}
	return out, false
}

var errNotMember = fmt.Errorf("not a member")

// readMemberBitmap reads m's bitmap if m is a member of the array want.
func readMemberBitmap(m *bitmap.Device, want string) (*bitmap.Bitmap, error) {
	r := m.Reader()
	sb, _, err := r.ProbeSuperblock()
	if err != nil || md.UUID(sb.SetUUID).Colon() != want {
		return nil, errNotMember
	}
	bm, err := r.ReadBitmap(sb, bitmap.WithMaxExtents(maxStatusExtents))
	if bm == nil {
		return nil, fmt.Errorf("read bitmap: %w", err)
	}
	return bm, nil
}

// candidates lists the devices that may hold an array's bitmap: the
// members of md device nm when it runs here, else this node's block
// devices that are not md arrays (nor loop, ram or optical devices).
func (e *Env) candidates(nm string) []string {
	fs, err := md.NewFS(e.Root)
	if err != nil {
		return nil
	}
	var out []string
	if nm != "" {
		a, _ := fs.Array(nm)
		for _, m := range a.Members {
			out = append(out, e.path("/dev/"+m.Name))
		}
		return out
	}
	names, _ := fs.BlockNames()
	for _, n := range names {
		if strings.HasPrefix(n, "md") || strings.HasPrefix(n, "loop") || strings.HasPrefix(n, "ram") || strings.HasPrefix(n, "sr") {
			continue
		}
		out = append(out, e.path("/dev/"+n))
	}
	return out
}

func writeReport(b *strings.Builder, rep *clusterReport) {
	st := &rep.Status
	valid := "valid"
	if !st.Session.Valid {
		valid = "NOT valid"
	}
	fmt.Fprintf(b, "Cluster %s, node %s (id %d), engine %s, session %s (ttl %s)\n",
		st.Cluster, st.Node, st.NodeID, st.Engine, valid, st.Session.TTL)
	fmt.Fprintf(b, "Members:\n")
	for _, m := range st.Members {
		fmt.Fprintf(b, "  %-16s id %d\n", m.Name, m.ID)
	}
	fmt.Fprintf(b, "Arrays:\n")
	for _, a := range st.Arrays {
		where := "not assembled here"
		if a.Device != "" {
			where = fmt.Sprintf("%s %s %s sync=%s degraded=%d", a.Device, a.Level, a.State, a.SyncAction, a.Degraded)
		}
		fmt.Fprintf(b, "  %-16s %s %-9s %s", a.Name, a.UUID, a.Mode, where)
		if a.ActiveOn != "" {
			fmt.Fprintf(b, ", active on %s", a.ActiveOn)
		}
		if a.Problem != "" {
			fmt.Fprintf(b, ", problem: %s", a.Problem)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "Leases:\n")
	for _, l := range st.Leases {
		if l.Token == 0 { // held by another node: only the holder knows the token
			fmt.Fprintf(b, "  %-16s %-10s held by %s\n", l.Array, l.Kind, l.Holder)
			continue
		}
		fmt.Fprintf(b, "  %-16s %-10s held by %s (token %d)\n", l.Array, l.Kind, l.Holder, l.Token)
	}
	fmt.Fprintf(b, "Resyncs:\n")
	for _, r := range st.Resyncs {
		state := fmt.Sprintf("%.1f%%", r.Progress)
		if r.Waiting {
			state = "waiting"
		}
		fmt.Fprintf(b, "  %-16s %-8s on %s: %s\n", r.Array, r.Action, r.Node, state)
	}
	for _, bm := range rep.Bitmaps {
		if bm.Error != "" {
			fmt.Fprintf(b, "Bitmap of %s: %s\n", bm.Array, bm.Error)
			continue
		}
		fmt.Fprintf(b, "Bitmap of %s (read from %s, chunk %d KiB", bm.Array, bm.Member, bm.ChunkSize>>10)
		if bm.Cluster != "" {
			fmt.Fprintf(b, ", cluster %s", bm.Cluster)
		}
		b.WriteString("):\n")
		for _, s := range bm.Slots {
			if s.Error != "" {
				fmt.Fprintf(b, "  slot %d: %s\n", s.Slot, s.Error)
				continue
			}
			fmt.Fprintf(b, "  slot %d: events %d, %d chunks, %d dirty\n", s.Slot, s.Events, s.Chunks, s.Dirty)
		}
	}
}

package mdadmview

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"mdcluster.dev/bitmap"
)

// errnoText is strerror's text for err, as mdadm prints it.
func errnoText(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		s := en.Error()
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return err.Error()
}

// whyNoSuperblock explains why no superblock was found: "" when no
// location even had md's magic (mdadm's plain message), else the first bad
// field.
func whyNoSuperblock(err error) string {
	if fe := fieldError(err); fe != nil {
		return fmt.Sprintf(" (%s field %s at offset %d: %s)", fe.Struct, fe.Field, fe.Offset, fieldReason(fe))
	}
	return ""
}

func fieldReason(fe *bitmap.FieldError) string {
	if fe.Value != nil {
		return fmt.Sprintf("value %v %s", fe.Value, fe.Reason)
	}
	return fe.Reason
}

// examine is mdadm's Examine(): --examine of each device, or with --brief
// an ARRAY line per array.
func (r *viewer) examine(devs []Device) int {
	c := r.q
	rc := 0
	var arrays []*briefArray // newest first, as mdadm lists them
	var js []any
	for _, d := range devs {
		m, err := bitmap.Open(d.Name)
		if err != nil {
			if !c.Scan {
				r.errf("cannot open %s: %s\n", d.Name, errnoText(err))
				rc = 1
			}
			continue
		}
		mem, err := LoadMember(m.Reader(), d.Name)
		m.Close()
		if err != nil {
			if !c.Brief {
				r.errf("No md superblock detected on %s.%s\n", d.Name, whyNoSuperblock(err))
				rc = 1
			}
			continue
		}
		opt := Options{Location: r.loc, Homehost: c.Homehost}
		switch {
		case c.JSON:
			js = append(js, NewExamine(mem, opt))
		case c.Brief:
			var ap *briefArray
			for _, a := range arrays {
				if a.uuid == mem.Super.SetUUID {
					ap = a
				}
			}
			if ap == nil {
				ap = &briefArray{uuid: mem.Super.SetUUID, first: mem}
				arrays = append([]*briefArray{ap}, arrays...)
			}
			if notInSync(mem.Super) {
				ap.spares++
			}
			ap.devs = append(ap.devs, d.Name)
		case c.Export:
			WriteExport(r.out, mem)
		default:
			if err := NewExamine(mem, opt).WriteText(r.out, opt); err != nil {
				r.errf("%s: %v\n", d.Name, err)
				rc = 1
			}
		}
	}
	for _, a := range arrays {
		r.briefLines(a)
	}
	for _, v := range js {
		WriteJSON(r.out, v)
	}
	return rc
}

// briefArray is one array of --examine --brief: its first member's
// superblock, the devices seen and how many of them are not in sync.
type briefArray struct {
	uuid   [16]byte
	first  *Member
	spares int
	devs   []string
}

// briefLines prints an array's ARRAY line as Examine does with --brief
// (level and num-devices with -v), then its spares and devices.
func (r *viewer) briefLines(a *briefArray) {
	c := r.q
	var b bytes.Buffer
	WriteBrief(&b, a.first)
	line, _, _ := strings.Cut(b.String(), "\n")
	if c.Verbose > 0 {
		sb := a.first.Super
		if l := knownLevel(sb.Level); l != "" {
			line = strings.Replace(line, " metadata=", " level="+l+" metadata=", 1)
		}
		line = strings.Replace(line, " UUID=", fmt.Sprintf(" num-devices=%d UUID=", int32(sb.RaidDisks)), 1)
	}
	r.out.WriteString(line + "\n")
	if a.spares > 0 {
		fmt.Fprintf(r.out, "   spares=%d", a.spares)
	}
	if c.Verbose > 0 {
		fmt.Fprintf(r.out, "   devices=%s", strings.Join(a.devs, ","))
	}
	if a.spares > 0 || c.Verbose > 0 {
		r.out.WriteString("\n")
	}
}

// notInSync is mdadm's !(disk.state & MD_DISK_SYNC) for a v1.x member.
func notInSync(sb *bitmap.Superblock) bool {
	role := sb.Role()
	if role == bitmap.RoleSpare || role == bitmap.RoleFaulty || role == bitmap.RoleJournal || role >= uint16(sb.RaidDisks) {
		return true
	}
	return sb.FeatureMap&bitmap.FeatureReplacement != 0 && sb.FeatureMap&bitmap.FeatureRecoveryOffset != 0
}

// examineBitmap is mdadm's ExamineBitmap() with one difference: an image
// file holding an md member is shown like a block device (its internal
// bitmap), where mdadm would read it as an external bitmap file. A file
// without an md superblock is still read as a bitmap file.
func (r *viewer) examineBitmap(name string) int {
	// mdadm opens with O_DIRECT, which only regular files and block
	// devices allow: anything else (a character device such as
	// /dev/urandom, a FIFO, a directory) fails at once with EINVAL. A
	// stat, not an open, decides, so a FIFO does not block either.
	if fi, err := os.Stat(name); err == nil && !fi.Mode().IsRegular() && !bitmap.IsBlock(fi) {
		r.errf("failed to open bitmap file %s: %s\n", name, errnoText(syscall.EINVAL))
		return 1
	}
	m, err := bitmap.Open(name)
	if err != nil {
		r.errf("failed to open bitmap file %s: %s\n", name, errnoText(err))
		return 1
	}
	defer m.Close()
	rd := m.Reader()
	sb, _, err := rd.ProbeSuperblock()
	if err != nil {
		if hasField(err) {
			r.errf("%s: no usable md superblock%s\n", name, whyNoSuperblock(err))
			return 1
		}
		return r.bitmapFile(name, m)
	}
	if !sb.HasBitmap() {
		r.errf("%s doesn't have bitmap\n", name)
		return 1
	}
	bm, err := rd.ReadBitmap(sb, bitmap.WithMaxExtents(r.maxExtents()))
	if bm == nil {
		r.errf("%s doesn't have bitmap (%v)\n", name, err)
		return 1
	}
	x := NewExamineBitmap(name, bm)
	if r.q.JSON {
		if r.q.Brief {
			for i := range x.Slots {
				x.Slots[i].Bits, x.Slots[i].Dirty, x.Slots[i].DirtyPercent, x.Slots[i].DirtyExtents = 0, 0, 0, nil
			}
		}
		WriteJSON(r.out, x)
		return 0
	}
	var b bytes.Buffer
	x.WriteText(&b)
	if r.q.Brief {
		r.out.WriteString(dropBitmapLines(b.String()))
	} else {
		r.out.Write(b.Bytes())
	}
	return 0
}

func (r *viewer) maxExtents() int {
	if r.q.JSON {
		return bitmap.DefaultMaxExtents
	}
	return 0 // the text has no extents: count bits only
}

func hasField(err error) bool { return fieldError(err) != nil }

// fieldError finds, anywhere in err's tree, a bad field of a structure
// whose magic was right (a wrong magic only means "not there").
func fieldError(err error) *bitmap.FieldError {
	switch e := err.(type) {
	case nil:
		return nil
	case *bitmap.FieldError:
		if !errors.Is(e, bitmap.ErrBadMagic) && e.Field != "magic" {
			return e
		}
		return nil
	case interface{ Unwrap() []error }:
		for _, x := range e.Unwrap() {
			if fe := fieldError(x); fe != nil {
				return fe
			}
		}
		return nil
	}
	return fieldError(errors.Unwrap(err))
}

// dropBitmapLines removes the "Bitmap : N bits" lines, which mdadm
// --examine-bitmap --brief does not print.
func dropBitmapLines(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if !strings.HasPrefix(l, "          Bitmap : ") {
			b.WriteString(l)
		}
	}
	return b.String()
}

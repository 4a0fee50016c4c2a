package mdadmview

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"mdcluster.dev/bitmap"
)

// WriteBrief writes what `mdadm --examine --brief DEV` prints for one
// member (brief_examine_super1 plus Examine's spares count): an ARRAY
// line, then "   spares=1" and a newline if this member is not in sync
// (spare, faulty, journal or replacement).
func WriteBrief(w io.Writer, m *Member) error {
	sb := m.Super
	var b bytes.Buffer
	name := briefName(sb)
	b.WriteString("ARRAY ")
	nm := name
	if i := strings.IndexByte(name, ':'); i >= 0 {
		nm = name[i+1:]
	}
	if name != "" { // nm: after the colon, or the whole name without one
		b.WriteString("/dev/md/" + escapeName(nm) + " ")
	}
	fmt.Fprintf(&b, " metadata=1.%d UUID=%s", sb.MinorVersion(), uuidString(sb.SetUUID))
	if name != "" {
		b.WriteString(" name=" + quoted(name))
	}
	b.WriteString("\n")
	if !inSync(sb) {
		b.WriteString("   spares=1\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}

// inSync is getinfo_super1's MD_DISK_SYNC bit.
func inSync(sb *bitmap.Superblock) bool {
	switch infoRole(sb) {
	case bitmap.RoleSpare, bitmap.RoleFaulty, bitmap.RoleJournal:
		return false
	}
	return sb.FeatureMap&bitmap.FeatureReplacement == 0
}

// escapeName is print_escape: space and tab become '_', '/' becomes '-'.
func escapeName(s string) string {
	return strings.NewReplacer(" ", "_", "\t", "_", "/", "-").Replace(s)
}

// quoted is print_quoted: s unchanged without space, tab or quote, else
// surrounded by quotes, switching quote characters where one occurs.
func quoted(s string) string {
	var first byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\'' || c == '"' {
			first = c
			break
		}
		if c == ' ' || c == '\t' {
			first = c
		}
	}
	if first == 0 {
		return s
	}
	q := byte('"')
	if first == '"' {
		q = '\''
	}
	var b strings.Builder
	b.WriteByte(q)
	for i := 0; i < len(s); i++ {
		if s[i] == q {
			b.WriteByte(q)
			q ^= '"' ^ '\''
			b.WriteByte(q)
		}
		b.WriteByte(s[i])
	}
	b.WriteByte(q)
	return b.String()
}

// WriteExport writes what `mdadm --examine --export DEV` prints for a v1.x
// member (export_examine_super1): MD_LEVEL, MD_DEVICES, MD_NAME,
// MD_ARRAY_SIZE, MD_UUID, MD_UPDATE_TIME, MD_DEV_UUID, MD_EVENTS.
func WriteExport(w io.Writer, m *Member) error {
	sb := m.Super
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	level := levelName(sb.Level)
	if level == "-unknown-" {
		level = "(null)" // glibc's printf of map_num's NULL
	}
	p("MD_LEVEL=%s\n", level)
	p("MD_DEVICES=%d\n", int32(sb.RaidDisks))
	if name := exportName(sb); len(name) > 0 {
		p("MD_NAME=%s\n", name)
	}
	if e := NewExamine(m, Options{}); e.ArraySizeKiB != nil {
		p("MD_ARRAY_SIZE=%s\n", humanSizeJEDEC(e.arraySizeBytes))
	}
	p("MD_UUID=%s\n", uuidString(sb.SetUUID))
	p("MD_UPDATE_TIME=%d\n", sb.UTime&0xffffffffff)
	p("MD_DEV_UUID=%s\n", uuidString(sb.DeviceUUID))
	p("MD_EVENTS=%d\n", sb.Events)
	_, err := w.Write(b.Bytes())
	return err
}

// briefName is set_name as mdadm's brief lines read it: a C string, so a
// name of 32 bytes without a NUL runs on into ctime and the fields after
// it.
func briefName(sb *bitmap.Superblock) string {
	raw, _ := sb.MarshalBinary()
	return cstr(raw[32:], len(raw)-32)
}

// exportName is set_name as the --export forms print it (MD_NAME): up to
// its first NUL or newline, within its 32 bytes.
func exportName(sb *bitmap.Superblock) []byte {
	name := sb.SetName[:]
	for i, c := range name {
		if c == '\n' || c == 0 {
			return name[:i]
		}
	}
	return name
}

// localTo reports whether set_name starts with "host:", as mdadm's "local
// to host" test does.
func localTo(sb *bitmap.Superblock, host string) bool {
	l := len(host)
	return l > 0 && l < 32 && sb.SetName[l] == ':' && string(sb.SetName[:l]) == host
}

package md

import (
	"bytes"
	"encoding/binary"
)

// direntNames appends to names those entries of buf, getdents64 records (include/linux/dirent.h:
// ino 8 bytes, off 8, reclen 2, type 1, then the NUL-terminated name), whose names start with
// prefix, leaving out "." and "..". Only the names kept are allocated: an md directory has
// some forty entries and a scan wants its few dev-* ones.
func direntNames(buf []byte, prefix string, names []string) []string {
	const nameOff = 19
	for len(buf) >= nameOff {
		reclen := int(binary.NativeEndian.Uint16(buf[16:18]))
		if reclen < nameOff || reclen > len(buf) {
			break
		}
		name := buf[nameOff:reclen]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		ino := binary.NativeEndian.Uint64(buf[0:8])
		buf = buf[reclen:]
		if ino == 0 || string(name) == "." || string(name) == ".." {
			continue
		}
		if len(name) >= len(prefix) && string(name[:len(prefix)]) == prefix {
			names = append(names, string(name))
		}
	}
	return names
}

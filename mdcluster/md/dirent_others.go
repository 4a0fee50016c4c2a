//go:build !linux

package md

import (
	"strings"

	"golang.org/x/sys/unix"
)

// direntNames appends to names those entries of buf, as unix.ReadDirent returns them, whose
// names start with prefix, leaving out "." and "..".
func direntNames(buf []byte, prefix string, names []string) []string {
	_, _, all := unix.ParseDirent(buf, -1, nil)
	for _, n := range all {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	return names
}

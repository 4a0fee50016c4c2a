//go:build !linux

package metrics

import "os"

// dropCache does nothing outside Linux.
func dropCache(*os.File) {}

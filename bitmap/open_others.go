//go:build !linux

package bitmap

import "os"

func dropCache(*os.File) {}

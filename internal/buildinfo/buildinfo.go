// Package buildinfo carries the version stamped into mdcluster's binaries at link time.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is set with -ldflags "-X mdcluster.dev/internal/buildinfo.Version=...". When unset it
// falls back to the module version or VCS revision Go recorded, or "devel".
var Version = ""

// String returns "<name> <version> (<go version> <os>/<arch>)".
func String(name string) string {
	return fmt.Sprintf("%s %s (%s %s/%s)", name, version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

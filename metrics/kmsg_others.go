//go:build !linux

package metrics

import (
	"fmt"
	"runtime"
)

// readSlots has no kernel log to read outside Linux.
func readSlots(string) (map[string]int, error) {
	return nil, fmt.Errorf("kernel log: not on %s/%s", runtime.GOOS, runtime.GOARCH)
}

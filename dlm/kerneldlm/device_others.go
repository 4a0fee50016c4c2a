//go:build !linux

package kerneldlm

import (
	"fmt"
	"runtime"
)

type fsOpener struct{ dir string }

var errUnimplemented = fmt.Errorf("kerneldlm: the kernel DLM is not available on %s/%s", runtime.GOOS, runtime.GOARCH)

func (fsOpener) control() (device, error)              { return nil, errUnimplemented }
func (fsOpener) lockspace(string, int) (device, error) { return nil, errUnimplemented }

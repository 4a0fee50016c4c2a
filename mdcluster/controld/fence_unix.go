//go:build unix

package controld

import (
	"os/exec"
	"syscall"
)

// killGroup runs cmd in a process group of its own and makes its cancel kill the whole group,
// so that no child of a fence command outlives it.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

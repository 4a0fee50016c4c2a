package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"mdcluster.dev/mdcluster/md"
)

// MD is the part of the kernel's md interface the decisions use: reading every array, and the
// three writes the agent ever makes (freeze or release a sync, switch read-write, stop).
// md.FS implements it over /sys; tests root it at a captured sysfs tree.
type MD interface {
	Arrays() ([]md.Array, error)
	SetSyncAction(array string, a md.SyncAction) error
	SetArrayState(array string, s md.ArrayState) error
	Stop(array string) error
}

// Mdadm runs mdadm. Only assembly goes through it: md's sysfs has no way to find and bind an
// array's members by UUID.
type Mdadm interface {
	Run(ctx context.Context, args ...string) ([]byte, error)
}

// execMdadm runs the mdadm binary at Path.
type execMdadm struct{ Path string }

func (m execMdadm) Run(ctx context.Context, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, m.Path, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", m.Path, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// Paths are the host paths the agent reads or writes besides md's sysfs.
type Paths struct {
	Sys string // /sys: block devices (new-disk confirmation), kernel DLM lockspaces
	Dev string // /dev
	Run string // /run/mdcluster: the session file
	// SysrqTrigger forces a reset when a fenced node must stop at once.
	SysrqTrigger string
	// BootID is the file holding this boot's random id (the session file and the member
	// record carry it, so a restarted agent tells its own session from an older boot's).
	BootID string
}

// DefaultPaths are the running system's.
func DefaultPaths() Paths {
	return Paths{Sys: "/sys", Dev: "/dev", Run: "/run/mdcluster", SysrqTrigger: "/proc/sysrq-trigger",
		BootID: "/proc/sys/kernel/random/boot_id"}
}

func (p Paths) sessionFile() string { return filepath.Join(p.Run, "session") }

// lockspaces lists the kernel DLM lockspaces in use on this node. A failed read other than
// "no DLM" is an error: the caller must then assume lockspaces are in use.
func (p Paths) lockspaces() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(p.Sys, "kernel", "dlm"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out, nil
}

func (p Paths) bootID() string {
	b, err := os.ReadFile(p.BootID)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

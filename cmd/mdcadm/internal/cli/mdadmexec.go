package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/dlm/kerneldlm"
	"mdcluster.dev/mdcluster/api"
	"mdcluster.dev/mdcluster/config"
)

// Defaults of Env's paths.
const (
	// DefaultSocket is the agent's API socket (listen.api_socket's default).
	DefaultSocket = "/run/mdcluster/mdclusterd.sock"
	// SocketEnv names the environment variable that overrides DefaultSocket
	// (the option --agent-socket=PATH overrides both).
	SocketEnv = "MDCLUSTER_SOCKET"
	// DefaultShimDir holds mdcluster's libcmap.so.4 shim (scripts/cmapshim).
	DefaultShimDir = "/usr/lib/mdcluster/cmapshim"
)

// adminLockWait bounds how long mdcadm waits for mdadm's admin lock
// while another mdadm holds it.
const adminLockWait = 10 * time.Second

// mdadmPath finds the real mdadm: `mdadm` in PATH, else /sbin/mdadm, never
// this program itself (mdcadm may be installed under the name mdadm).
func (e *Env) mdadmPath() (string, error) {
	if e.Mdadm != "" {
		return e.Mdadm, nil
	}
	self, _ := os.Executable()
	for _, cand := range []string{"mdadm", "/sbin/mdadm", "/usr/sbin/mdadm"} {
		p, err := exec.LookPath(cand)
		if err != nil {
			continue
		}
		if self != "" && sameFile(p, self) {
			continue
		}
		return p, nil
	}
	return "", errors.New("the real mdadm is not installed (looked in PATH and /sbin)")
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// shimEnv is the environment for an mdadm that creates, manages or grows
// arrays where the agent runs the kernel DLM's control plane (its status
// says dlm_control mdclusterd): there is no corosync, so mdadm gets the
// libcmap shim that answers totem.cluster_name with the agent's cluster
// name. Nothing otherwise (st nil: the agent did not answer): a real
// corosync is never shadowed.
func (e *Env) shimEnv(m Mode, st *api.Status) []string {
	if m != ModeCreate && m != ModeManage && m != ModeGrow {
		return nil
	}
	if st == nil || st.DLMControl != config.ControlMdclusterd || st.Cluster == "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(e.ShimDir, "libcmap.so.4")); err != nil {
		return nil
	}
	lib := e.ShimDir
	if old := os.Getenv("LD_LIBRARY_PATH"); old != "" {
		lib += ":" + old
	}
	return []string{"LD_LIBRARY_PATH=" + lib, "MDCLUSTER_CLUSTER_NAME=" + st.Cluster}
}

// runMdadm runs the real mdadm with args on mdcadm's own stdin, stdout
// and stderr, with extra environment variables, and returns its exit code
// (128+n when signal n killed it). in, when not nil, passes the signals
// mdcadm catches on to mdadm (see interrupts).
func (e *Env) runMdadm(args, extraEnv []string, in *interrupts) int {
	p, err := e.mdadmPath()
	if err != nil {
		fmt.Fprintf(e.Stderr, "%s: %v\n", Prog, err)
		return 1
	}
	cmd := exec.Command(p, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, e.Stdout, e.Stderr
	if extraEnv != nil {
		cmd.Env = append(os.Environ(), extraEnv...)
	}
	if err = cmd.Start(); err == nil {
		in.started(cmd.Process)
		err = cmd.Wait()
		in.started(nil)
	}
	var x *exec.ExitError
	switch {
	case errors.As(err, &x):
		if ws, ok := x.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return signalCode(ws.Signal())
		}
		return x.ExitCode()
	case err != nil:
		fmt.Fprintf(e.Stderr, "%s: run %s: %v\n", Prog, filepath.Base(p), err)
		return 1
	}
	return 0
}

// KernelAdminLock takes mdadm's own admin lock, bitmap<cluster> in EX in
// the userspace lockspace named after the cluster (mdadm's
// cluster_get_dlmlock), waiting up to adminLockWait for another mdadm to
// finish. The returned func releases it.
func KernelAdminLock(ctx context.Context, cluster string) (func(), error) {
	res := "bitmap" + cluster
	ctx, cancel := context.WithTimeout(ctx, adminLockWait)
	defer cancel()
	sess, err := kerneldlm.New(kerneldlm.WithLockspace(cluster)).Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("mdadm's admin lock %s: join lockspace %s: %w", res, cluster, err)
	}
	l, err := sess.Lock(ctx, res, dlm.EX)
	if err != nil {
		sess.Close()
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("mdadm's admin lock %s in lockspace %s is held by another mdadm (waited %s)", res, cluster, adminLockWait)
		}
		return nil, fmt.Errorf("mdadm's admin lock %s in lockspace %s: %w", res, cluster, err)
	}
	return func() {
		uctx, cancel := context.WithTimeout(context.Background(), adminLockWait)
		defer cancel()
		l.Unlock(uctx)
		sess.Close() // closing the device would drop the lock anyway
	}, nil
}

// Package dlm is mdcluster's distributed lock manager interface: one lock
// and lease API with the semantics of the Linux DLM (six modes, conversions,
// NOQUEUE, lock value blocks, blocking notices), implemented by two engines:
//
//   - mdcluster.dev/dlm/etcdlock: locks are etcd keys, sessions are etcd
//     leases; every grant carries a fencing token (an etcd revision).
//   - mdcluster.dev/dlm/kerneldlm: the Linux kernel DLM through its user
//     device API (/dev/misc/dlm-control, /dev/misc/dlm_<lockspace>).
//
// A caller opens a Session from an Engine and takes Locks in it. Every
// blocking call takes a context first; the context bounds the wait and the
// RPCs, and each method documents what a cancel leaves behind.
//
// Every decision the mdcluster agent takes across servers goes through this
// package: a holder must stop acting on a lock as soon as its Session's
// Done channel closes, and should pass its fencing token along with every
// fenced action so the receiver can re-check it (Session.CheckToken).
package dlm

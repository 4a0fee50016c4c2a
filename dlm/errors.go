package dlm

import "errors"

// Sentinel errors shared by every engine. Engines wrap them with context
// (operation, resource); test for them with errors.Is.
var (
	// ErrWouldBlock is returned by TryLock, and by Convert with NoQueue, when
	// the request is not grantable at once (the kernel's -EAGAIN status).
	ErrWouldBlock = errors.New("dlm: lock not granted: request would block")
	// ErrSessionExpired is returned once the session's lease has been lost:
	// its locks are gone or about to go, and Session.Done is closed.
	ErrSessionExpired = errors.New("dlm: session expired")
	// ErrNoQuorum is returned when the lock service cannot reach agreement
	// (no etcd leader, or a request timed out inside the cluster). The caller
	// holds nothing from the failed call. A request still in flight inside
	// the cluster may commit once quorum returns: the engine withdraws it
	// (retrying in the background) or it goes with its session.
	ErrNoQuorum = errors.New("dlm: no quorum")
	// ErrNotHeld is returned by Convert and Unlock on a lock that is no
	// longer held (already unlocked).
	ErrNotHeld = errors.New("dlm: lock not held")
	// ErrStaleToken is returned by CheckToken when the fencing token is not
	// the token of a grant that is still in force.
	ErrStaleToken = errors.New("dlm: fencing token is not current")
	// ErrDeadlock is returned by Convert when the conversion was chosen to
	// break a conversion deadlock (the kernel's -EDEADLK); the lock keeps its
	// previous mode.
	ErrDeadlock = errors.New("dlm: conversion deadlock")
	// ErrCanceled is returned when a waiting request was cancelled by the
	// lock manager rather than granted (the kernel's -DLM_ECANCEL).
	ErrCanceled = errors.New("dlm: request canceled")
	// ErrInvalidMode is returned for a mode outside NL…EX.
	ErrInvalidMode = errors.New("dlm: invalid lock mode")
	// ErrInvalidResource is returned for an empty or too long resource name.
	ErrInvalidResource = errors.New("dlm: invalid resource name")
	// ErrLVBTooLong is returned when a lock value block exceeds LVBLen bytes.
	ErrLVBTooLong = errors.New("dlm: lock value block too long")
	// ErrNotSupported is returned by an engine that cannot provide a feature
	// (the kernel engine has no fencing tokens).
	ErrNotSupported = errors.New("dlm: not supported by this engine")
	// ErrClosed is returned after the session was closed by its owner.
	ErrClosed = errors.New("dlm: session closed")
)

// Package md is mdcluster's Go access to the running Linux md driver, without mdadm.
//
// It reads arrays and members from sysfs (/sys/block/mdN/md, see
// https://docs.kernel.org/admin-guide/md.html) and /proc/mdstat through an [FS] rooted anywhere,
// so tests read trees captured from a real kernel, or through a [Scanner] that keeps attribute
// files open for callers that poll; it changes them through the same attributes
// (sync_action, sync_min/max, speed limits, member state, array_state); it drives the md ioctls
// (include/uapi/linux/raid/md_u.h) through a [Device]; and it decodes md and dlm kernel uevents
// into typed events from a [Watcher] or from captured bytes ([ParseUevent], [DecodeUevent]).
//
// Reading and parsing are separate, as in prometheus/procfs: readers collect raw attribute text,
// unexported parsers turn it into values, and every error names the array and attribute.
package md

package cli

import "mdcluster.dev/cmd/mdcadm/internal/getopt"

// Codes of long options without a short synonym (mdadm.h's special_options;
// the values are ours).
const (
	optAssumeClean = 300 + iota
	optBitmapChunk
	optWriteBehind
	optReAdd
	optNoDegraded
	optSparc22
	optBackupFile
	optHomeHost
	optSymlinks
	optAutoDetect
	optWaitClean
	optDetailPlatform
	optKillSubarray
	optUpdateSubarray
	optIncrementalPath
	optNoSharing
	optHelpOptions
	optBrief
	optNoDevices
	optManage
	optAdd
	optAddSpare
	optAddJournal
	optRemove
	optFail
	optReplace
	optWith
	optMisc
	optWait
	optConfigFile
	optChunkSize
	optWriteMostly
	optFailFast
	optNoFailFast
	optLayout
	optAuto
	optForce
	optSuperMinor
	optEMail
	optProgram
	optIncrement
	optFork
	optBitmap
	optRebuildMap
	optInvalidBackup
	optUdevRules
	optFreezeReshape
	optContinue
	optOffRoot
	optPrefer
	optKill
	optDataOffset
	optExamineBB
	optDump
	optRestore
	optAction
	optNodes
	optClusterName
	optClusterConfirm
	optWriteJournal
	optJSON // mdcadm's own: machine-readable output of the read-only modes
)

// Short option strings of mdadm 4.2 (ReadMe.c). Create, build, assemble
// and incremental use shortBitmapAuto, manage and grow shortBitmap, where
// -b takes a bitmap argument.
const (
	shortOptions    = "-ABCDEFGIQhVXYWZ:vqbc:i:l:p:m:r:n:x:u:c:d:z:U:N:safRSow1tye:k"
	shortBitmap     = "-ABCDEFGIQhVXYWZ:vqb:c:i:l:p:m:r:n:x:u:c:d:z:U:N:sarfRSow1tye:k:"
	shortBitmapAuto = "-ABCDEFGIQhVXYWZ:vqb:c:i:l:p:m:r:n:x:u:c:d:z:U:N:sa:rfRSow1tye:k:"
)

// longOptions is mdadm 4.2's long option table in its order (the order
// decides which name getopt reports for an abbreviation), then --json.
var longOptions = []getopt.LongOption{
	lo("manage", 0, optManage), lo("misc", 0, optMisc), lo("assemble", 0, 'A'), lo("build", 0, 'B'),
	lo("create", 0, 'C'), lo("detail", 0, 'D'), lo("examine", 0, 'E'), lo("follow", 0, 'F'),
	lo("grow", 0, 'G'), lo("incremental", 0, 'I'), lo("zero-superblock", 0, optKill), lo("query", 0, 'Q'),
	lo("examine-bitmap", 0, 'X'), lo("auto-detect", 0, optAutoDetect), lo("detail-platform", 0, optDetailPlatform),
	lo("kill-subarray", 1, optKillSubarray), lo("update-subarray", 1, optUpdateSubarray),
	lo("udev-rules", 2, optUdevRules), lo("offroot", 0, optOffRoot), lo("examine-badblocks", 0, optExamineBB),
	lo("dump", 1, optDump), lo("restore", 1, optRestore),
	lo("monitor", 0, 'F'),
	lo("help", 0, 'h'), lo("help-options", 0, optHelpOptions), lo("version", 0, 'V'), lo("verbose", 0, 'v'),
	lo("quiet", 0, 'q'),
	lo("chunk", 1, optChunkSize), lo("rounding", 1, optChunkSize), lo("level", 1, 'l'), lo("parity", 1, optLayout),
	lo("layout", 1, optLayout), lo("raid-disks", 1, 'n'), lo("raid-devices", 1, 'n'), lo("spare-disks", 1, 'x'),
	lo("spare-devices", 1, 'x'), lo("size", 1, 'z'), lo("auto", 1, optAuto), lo("assume-clean", 0, optAssumeClean),
	lo("metadata", 1, 'e'), lo("bitmap", 1, optBitmap), lo("bitmap-chunk", 1, optBitmapChunk),
	lo("write-behind", 2, optWriteBehind), lo("write-mostly", 0, optWriteMostly), lo("failfast", 0, optFailFast),
	lo("nofailfast", 0, optNoFailFast), lo("re-add", 0, optReAdd), lo("homehost", 1, optHomeHost),
	lo("symlinks", 1, optSymlinks), lo("data-offset", 1, optDataOffset), lo("nodes", 1, optNodes),
	lo("home-cluster", 1, optClusterName), lo("write-journal", 1, optWriteJournal),
	lo("consistency-policy", 1, 'k'),
	lo("uuid", 1, 'u'), lo("super-minor", 1, optSuperMinor), lo("name", 1, 'N'), lo("config", 1, optConfigFile),
	lo("scan", 0, 's'), lo("force", 0, optForce), lo("update", 1, 'U'), lo("freeze-reshape", 0, optFreezeReshape),
	lo("add", 0, optAdd), lo("add-spare", 0, optAddSpare), lo("add-journal", 0, optAddJournal),
	lo("remove", 0, optRemove), lo("fail", 0, optFail), lo("set-faulty", 0, optFail), lo("replace", 0, optReplace),
	lo("with", 0, optWith), lo("run", 0, 'R'), lo("stop", 0, 'S'), lo("readonly", 0, 'o'), lo("readwrite", 0, 'w'),
	lo("no-degraded", 0, optNoDegraded), lo("wait", 0, optWait), lo("wait-clean", 0, optWaitClean),
	lo("action", 1, optAction), lo("cluster-confirm", 0, optClusterConfirm),
	lo("brief", 0, optBrief), lo("no-devices", 0, optNoDevices), lo("export", 0, 'Y'), lo("sparc2.2", 0, optSparc22),
	lo("test", 0, 't'), lo("prefer", 1, optPrefer),
	lo("mail", 1, optEMail), lo("program", 1, optProgram), lo("alert", 1, optProgram), lo("increment", 1, optIncrement),
	lo("delay", 1, 'd'), lo("daemonise", 0, optFork), lo("daemonize", 0, optFork), lo("oneshot", 0, '1'),
	lo("pid-file", 1, 'i'), lo("syslog", 0, 'y'), lo("no-sharing", 0, optNoSharing),
	lo("backup-file", 1, optBackupFile), lo("invalid-backup", 0, optInvalidBackup), lo("array-size", 1, 'Z'),
	lo("continue", 0, optContinue),
	lo("rebuild-map", 0, optRebuildMap), lo("path", 1, optIncrementalPath),
	lo("json", 0, optJSON),
}

func lo(name string, hasArg, code int) getopt.LongOption {
	return getopt.LongOption{Name: name, HasArg: hasArg, Code: code}
}

// Mode is an mdadm mode.
type Mode int

// mdadm's modes; the zero value is "not set yet".
const (
	ModeNone Mode = iota
	ModeAssemble
	ModeBuild
	ModeCreate
	ModeManage
	ModeMisc
	ModeMonitor
	ModeGrow
	ModeIncremental
	ModeAutoDetect
)

var modeNames = map[Mode]string{
	ModeAssemble: "assemble", ModeBuild: "build", ModeCreate: "create", ModeManage: "manage",
	ModeMisc: "misc", ModeMonitor: "monitor", ModeGrow: "grow", ModeIncremental: "incremental",
	ModeAutoDetect: "auto-detect",
}

func (m Mode) String() string {
	if n, ok := modeNames[m]; ok {
		return n
	}
	return "(null)"
}

// forcedMode lists options that always choose a mode, with the short
// option string mdadm switches to.
var forcedMode = map[int]struct {
	mode  Mode
	short string
}{
	optManage: {ModeManage, shortBitmap}, 'A': {ModeAssemble, shortBitmapAuto},
	'B': {ModeBuild, shortBitmapAuto}, 'C': {ModeCreate, shortBitmapAuto}, 'F': {ModeMonitor, ""},
	'G': {ModeGrow, shortBitmap}, 'I': {ModeIncremental, shortBitmapAuto}, optAutoDetect: {ModeAutoDetect, ""},
	optMisc: {ModeMisc, ""}, 'D': {ModeMisc, ""}, 'E': {ModeMisc, ""}, 'X': {ModeMisc, ""}, 'Q': {ModeMisc, ""},
	optExamineBB: {ModeMisc, ""}, optDump: {ModeMisc, ""}, optRestore: {ModeMisc, ""}, optAction: {ModeMisc, ""},
	optNoSharing: {ModeMonitor, ""},
}

// defaultMode lists options that choose a mode only when none is set.
var defaultMode = map[int]Mode{
	'a': ModeManage, optAdd: ModeManage, optAddSpare: ModeManage, optAddJournal: ModeManage,
	'r': ModeManage, optRemove: ModeManage, optReplace: ModeManage, optWith: ModeManage,
	'f': ModeManage, optFail: ModeManage, optReAdd: ModeManage, optClusterConfirm: ModeManage,
	'R': ModeMisc, 'S': ModeMisc, 'o': ModeMisc, 'w': ModeMisc, 'W': ModeMisc, optWait: ModeMisc,
	optWaitClean: ModeMisc, optDetailPlatform: ModeMisc, optKillSubarray: ModeMisc,
	optUpdateSubarray: ModeMisc, optUdevRules: ModeMisc, optKill: ModeMisc,
}

// validIn lists, per mode, the options mdadm 4.2 accepts in that mode
// (the O(mode, opt) cases of mdadm.c) besides the mode-independent ones.
var validIn = map[Mode][]int{
	ModeGrow: {'c', optChunkSize, 'z', 'Z', optDataOffset, 'l', 'p', optLayout, optAssumeClean, 'n',
		optNodes, 'f', optForce, 'd', 'a', optAdd, optBackupFile, optContinue, 'b', optBitmap,
		optBitmapChunk, optWriteBehind, 'k'},
	ModeCreate: {'c', optChunkSize, 'e', 'W', optWriteMostly, optFailFast, 'z', optDataOffset, 'l', 'p',
		optLayout, optAssumeClean, 'n', optNodes, optClusterName, 'x', 'a', optAuto, optSymlinks, 'f',
		optForce, 'u', 'N', 'o', optConfigFile, 'd', 'R', 'b', optBitmap, optBitmapChunk, optWriteBehind,
		optWriteJournal, 'k'},
	ModeBuild: {'c', optChunkSize, 'W', optWriteMostly, 'z', 'l', 'p', optLayout, optAssumeClean, 'n', 'a',
		optAuto, optSymlinks, 'f', optForce, 'd', 'R', 'b', optBitmap, optBitmapChunk, optWriteBehind},
	ModeIncremental: {'e', 'a', optAuto, optFreezeReshape, optNoDegraded, 'c', optConfigFile, 's', 'f',
		optRemove, optFail, 'R', 'r', optRebuildMap, optIncrementalPath},
	ModeAssemble: {'e', optNodes, optClusterName, 'a', optAuto, optSymlinks, 'f', optForce, optFreezeReshape,
		'u', 'N', 'm', optSuperMinor, 'o', 'U', optNoDegraded, 'c', optConfigFile, 's', 'R', 'b', optBitmap,
		optBackupFile, optInvalidBackup},
	ModeMisc: {'e', 'f', optForce, 'N', 'U', 'c', optConfigFile, 's', 'Q', 'D', 'E', optKill, 'R', 'S', 'X',
		optExamineBB, 'o', 'w', 'W', optWait, optWaitClean, optDetailPlatform, optKillSubarray,
		optUpdateSubarray, optDump, optRestore, optAction, optUdevRules, 't', optSparc22},
	ModeManage: {'W', optWriteMostly, 'w', optFailFast, optNoFailFast, optForce, 'o', 'U', 'a', optAdd,
		optAddSpare, optAddJournal, optReAdd, 'r', optRemove, 'f', optFail, optClusterConfirm, optReplace,
		optWith, 'R', 'S', 't'},
	ModeMonitor: {'c', optConfigFile, 's', 'm', optEMail, 'p', optProgram, 'r', optIncrement, 'd', 'f',
		optFork, 'i', '1', 't', 'y', optNoSharing},
}

// miscActions are the misc-mode options that give the devices after them
// an action (a "devmode" in mdadm.c).
var miscActions = map[int]bool{
	'Q': true, 'D': true, 'E': true, optKill: true, 'R': true, 'S': true, 'X': true, optExamineBB: true,
	'o': true, 'w': true, 'W': true, optWait: true, optWaitClean: true, optDetailPlatform: true,
	optKillSubarray: true, optUpdateSubarray: true, optDump: true, optRestore: true, optAction: true,
}

// implementedActions are the misc actions this build runs.
var implementedActions = map[int]bool{'Q': true, 'D': true, 'E': true, 'X': true}

// optionName names an option as mdadm's messages do: "--name" for a long
// option, "-c" for a short one.
func optionName(o getopt.Option) string {
	if o.Long >= 0 {
		return "--" + longOptions[o.Long].Name
	}
	return "-" + string(rune(o.Code))
}

// codeName names an option code by its first long name.
func codeName(code int) string {
	for _, lo := range longOptions {
		if lo.Code == code {
			return "--" + lo.Name
		}
	}
	return "-" + string(rune(code))
}

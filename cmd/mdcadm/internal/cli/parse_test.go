package cli

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// usageErr is getopt's message for a bad option followed by the usage.
func usageErr(msg string) string { return "mdcadm: " + msg + "\nUsage: mdcadm --help\n  for help\n" }

// TestCommandLineErrors checks mdadm 4.2's messages and exit codes for bad
// command lines (each message as the real mdadm 4.2-5 printed it, getopt's
// with our program name). Nothing may reach stdout.
func TestCommandLineErrors(t *testing.T) {
	for _, c := range []struct {
		args string
		want string
		rc   int
	}{
		{"--foo", usageErr("unrecognized option '--foo'"), 2},
		{"--foo=bar -E x", usageErr("unrecognized option '--foo=bar'"), 2},
		{"-E -j x", usageErr("invalid option -- 'j'"), 2},
		{"-Z", usageErr("option requires an argument -- 'Z'"), 2},
		{"-c", usageErr("option requires an argument -- 'c'"), 2},
		{"--homehost", usageErr("option '--homehost' requires an argument"), 2},
		{"--detail=x", usageErr("option '--detail' doesn't allow an argument"), 2},
		{"--r", usageErr("option '--r' is ambiguous; possibilities: '--restore' '--rounding' '--raid-disks' '--raid-devices' '--re-add' '--remove' '--replace' '--run' '--readonly' '--readwrite' '--rebuild-map'"), 2},
		{"--exa x", usageErr("option '--exa' is ambiguous; possibilities: '--examine' '--examine-bitmap' '--examine-badblocks'"), 2},
		{"-E -k", "mdadm: option -k not valid in misc mode\n", 2},
		{"--level=1 /x", "mdadm: --level does not set the mode, and so cannot be the first option.\n", 2},
		{"-l1 -n2", "mdadm: -l does not set the mode, and so cannot be the first option.\n", 2},
		{"--write-behind=3 /x", "mdadm: --write-behind does not set the mode, and so cannot be the first option.\n", 2},
		{"/x /y", "mdadm: An option must be given to set the mode before a second device\n       (/y) is listed\n", 2},
		{"/x -D", "mdadm: No action given for /x in --misc mode\n       Action options must come before device names\n", 2},
		{"-C -D", "mdadm: -D would set mdadm mode to \"misc\", but it is already set to \"create\".\n", 2},
		{"--assemble --detail", "mdadm: --detail would set mdadm mode to \"misc\", but it is already set to \"assemble\".\n", 2},
		{"-E -D /x", "mdadm: --examine/-E cannot be given with -D\n", 2},
		{"-D -E /x", "mdadm: --examine/-E cannot be given with -D\n", 2},
		{"-Q -E", "mdadm: No devices to examine\n", 2},
		{"-E -- /x", "mdadm: No devices to examine\n", 2}, // getopt stops at "--"; mdadm ignores the rest
		{"-E -e foo /x", "mdadm: unrecognised metadata identifier: foo\n", 2},
		{"-D -N x /x", "mdadm: -N/--name only valid with --update-subarray in misc mode\n", 2},
		{"--misc -U x", "mdadm: Only subarrays can be updated in misc mode\n", 2},
		{"-X -D --sparc2.2", "mdadm: --sparc2.2 only allowed with --examine\n", 2},
		{"-D --bitmap=x /x", "mdadm: :option --bitmap not valid in misc mode\n", 2},
		{"-D -a /x", "mdadm: option -a not valid in misc mode\n", 2},
		{"-E --action=foo", "mdadm: action must be one of idle, frozen, check, repair\n", 2},
		{"-D", "mdadm: No devices given.\n", 2},
		{"", "Usage: mdcadm --help\n  for help\n", 2},
		{"-v", "Usage: mdcadm --help\n  for help\n", 2},
		// Modes and actions that are recognised but not run yet.
		{"--monitor --scan --oneshot", "mdcadm: --monitor mode is not implemented yet (" + notYet + ")\n", 2},
		{"--auto-detect", "mdcadm: --auto-detect mode is not implemented yet (" + notYet + ")\n", 2},
		{"--build /dev/md0 -l0 -n2 /dev/a /dev/b", "mdcadm: --build mode is not implemented yet (" + notYet + ")\n", 2},
		{"--zero-superblock /dev/a", "mdcadm: --zero-superblock is not implemented yet (" + notYet + ")\n", 2},
		{"--action=check /dev/md0", "mdcadm: --action is not implemented yet (" + notYet + ")\n", 2},
	} {
		t.Run(c.args, func(t *testing.T) {
			o, e, rc := runArgs(t, strings.Fields(c.args)...)
			if o != "" {
				t.Errorf("stdout %q, want nothing", o)
			}
			if diff := cmp.Diff(c.want, e); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
			if rc != c.rc {
				t.Errorf("rc %d, want %d", rc, c.rc)
			}
		})
	}
}

// TestParse checks the parsed command line: modes, actions per device,
// bundled short options, arguments joined or separate, abbreviations,
// options after devices.
func TestParse(t *testing.T) {
	type dev = Device
	for _, c := range []struct {
		args string
		want Config
	}{
		{"-Ds", Config{Mode: ModeMisc, DevMode: 'D', Scan: true, Brief: true}},
		{"-Dsvv", Config{Mode: ModeMisc, DevMode: 'D', Scan: true, Verbose: 2}},
		{"--detail --scan --verbose", Config{Mode: ModeMisc, DevMode: 'D', Scan: true, Brief: true, Verbose: 1}},
		{"--detail --sc", Config{Mode: ModeMisc, DevMode: 'D', Scan: true, Brief: true}},
		{"/dev/md0", Config{Mode: ModeMisc, DevMode: 'Q', Devices: []dev{{Name: "/dev/md0", Disposition: 'Q'}}}},
		{"-E /dev/a --brief /dev/b", Config{Mode: ModeMisc, DevMode: 'E', Brief: true, Devices: []dev{{Name: "/dev/a", Disposition: 'E'}, {Name: "/dev/b", Disposition: 'E'}}}},
		{"-Eb /dev/a", Config{Mode: ModeMisc, DevMode: 'E', Brief: true, Devices: []dev{{Name: "/dev/a", Disposition: 'E'}}}},
		{"-Q /dev/a -D /dev/md0 -X /dev/b", Config{Mode: ModeMisc, DevMode: 'X', Devices: []dev{{Name: "/dev/a", Disposition: 'Q'}, {Name: "/dev/md0", Disposition: 'D'}, {Name: "/dev/b", Disposition: 'X'}}}},
		{"--examine-bitmap --json /dev/a", Config{Mode: ModeMisc, DevMode: 'X', JSON: true, Devices: []dev{{Name: "/dev/a", Disposition: 'X'}}}},
		{"-X -", Config{Mode: ModeMisc, DevMode: 'X', Devices: []dev{{Name: "-", Disposition: 'X'}}}},
		{"-E --homehost=h1 -e1.2 -c /etc/x.conf /dev/a", Config{Mode: ModeMisc, DevMode: 'E', Homehost: "h1", HomehostOK: true, Metadata: "1.2", ConfigFile: "/etc/x.conf", Devices: []dev{{Name: "/dev/a", Disposition: 'E'}}}},
		{"-E --config /etc/x.conf --homehost h2 /dev/a", Config{Mode: ModeMisc, DevMode: 'E', Homehost: "h2", HomehostOK: true, ConfigFile: "/etc/x.conf", Devices: []dev{{Name: "/dev/a", Disposition: 'E'}}}},
		{"-D --prefer=by-id --no-devices -Y /dev/md0", Config{Mode: ModeMisc, DevMode: 'D', Prefer: "/by-id/", NoDevices: true, Export: true, Devices: []dev{{Name: "/dev/md0", Disposition: 'D'}}}},
		{"-E /dev/a -- /dev/b", Config{Mode: ModeMisc, DevMode: 'E', Devices: []dev{{Name: "/dev/a", Disposition: 'E'}}}},
		{"--homehost=<ignore> -Q /dev/a", Config{Mode: ModeMisc, DevMode: 'Q', Devices: []dev{{Name: "/dev/a", Disposition: 'Q'}}}},
	} {
		t.Run(c.args, func(t *testing.T) {
			got, err := Parse(strings.Fields(c.args))
			if err != nil {
				t.Fatal(err)
			}
			got.Options = nil
			want := c.want
			want.RequireHomehost = !strings.Contains(c.args, "<ignore>")
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseOtherModes checks that the options of modes not implemented yet
// are recognised with getopt's rules (mode-dependent short options, values
// joined or separate) and kept for those modes.
func TestParseOtherModes(t *testing.T) {
	for _, c := range []struct {
		args string
		mode Mode
		opts []string // option: argument
	}{
		{"-C /dev/md0 -l1 -n2 /dev/a /dev/b", ModeCreate, []string{"l:1", "n:2"}},
		{"--create /dev/md0 --level raid1 --raid-devices=2 -binternal --bitmap-chunk 4M /dev/a", ModeCreate,
			[]string{"l:raid1", "n:2", "b:internal", "--bitmap-chunk:4M"}},
		{"-Cv /dev/md0 -l 10 -pn2 -c512 -a yes /dev/a", ModeCreate, []string{"l:10", "p:n2", "c:512", "a:yes"}},
		{"-A -s -c /etc/mdadm.conf", ModeAssemble, []string{"s:", "c:/etc/mdadm.conf"}},
		{"--grow /dev/md0 --raid-d=3 --backup-file /b", ModeGrow, []string{"n:3", "--backup-file:/b"}},
		{"/dev/md0 -a /dev/b -r /dev/c --re-add /dev/d", ModeManage, []string{"a:", "r:/dev/c", "--re-add:"}}, // "r:" comes first in the short options, so -r takes an argument
		{"-F --scan -1 --mail=root", ModeMonitor, []string{"s:", "1:", "--mail:root"}},
	} {
		t.Run(c.args, func(t *testing.T) {
			got, err := Parse(strings.Fields(c.args))
			if err != nil {
				t.Fatal(err)
			}
			if got.Mode != c.mode {
				t.Errorf("mode %v, want %v", got.Mode, c.mode)
			}
			var opts []string
			for _, o := range got.Options {
				name := string(rune(o.Code))
				if o.Code >= 300 {
					name = codeName(o.Code)
				}
				opts = append(opts, name+":"+o.Arg)
			}
			if diff := cmp.Diff(c.opts, opts); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNotRoot(t *testing.T) {
	env, o, e := testEnv(t)
	env.Euid = 1000
	if rc := Run([]string{"-D", "/dev/md0"}, env); rc != 1 || o.Len() != 0 ||
		e.String() != "mdadm: must be super-user to perform this action\n" {
		t.Errorf("rc %d, stdout %q, stderr %q", rc, o, e)
	}
}

package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// urfaveHelp is mdclusterd's top-level help as urfave/cli v2 prints it.
const urfaveHelp = `NAME:
   mdclusterd - cluster agent for Linux md RAID on shared disks

USAGE:
   mdclusterd [global options] command [command options]

COMMANDS:
   run           run the agent
   check-config  validate a configuration file and exit
   help, h       Shows a list of commands or help for one command

GLOBAL OPTIONS:
   --help, -h  show help
`

func TestCommands(t *testing.T) {
	if diff := cmp.Diff([]string{"run", "check-config"}, Commands(urfaveHelp)); diff != "" {
		t.Errorf("Commands (-want +got):\n%s", diff)
	}
	if got := Commands("Usage: mdcadm --examine ...\n\nRead-only modes:\n  --examine\n"); got != nil {
		t.Errorf("Commands of a help without COMMANDS: %q, want none", got)
	}
}

func TestSummary(t *testing.T) {
	for _, tc := range []struct{ help, want string }{
		{urfaveHelp, "cluster agent for Linux md RAID on shared disks"},
		{"Usage: mdcadm --examine options...\n\nmdcadm accepts mdadm's command line.\n", "mdcadm accepts mdadm's command line"},
	} {
		if got := summary("x", tc.help); got != tc.want {
			t.Errorf("summary: got %q, want %q", got, tc.want)
		}
	}
}

func TestRenderEscapes(t *testing.T) {
	page := Render("mdcadm", "mdcadm 1.0", "2026-01-02", "Usage: mdcadm -E\n.dot at start\n'quote\nback\\slash\n", nil)
	for _, want := range []string{
		`.TH MDCADM 8 "2026-01-02" "mdcadm 1.0" "System Administration"`,
		"mdcadm \\- .dot at start", // the first line that is not "Usage"
		"\\&.dot at start", "\\&'quote", `back\eslash`, ".nf\n", ".fi\n",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
}

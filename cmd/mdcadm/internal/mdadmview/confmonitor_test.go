package mdadmview

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestConfMonitor(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc", "mdadm"), 0o755)
	os.WriteFile(filepath.Join(root, "etc", "mdadm", "mdadm.conf"), []byte(`# monitor settings
MAILADDR ops@example.com other@example.com
MAILFROM mdadm on
  node1 <root@node1>
program /usr/local/sbin/md-alert
MONITORDELAY 30
ARRAY /dev/md/data metadata=1.2 UUID=fd4485b9:5882c440:166d447e:b3049159 spares=1 spare-group=shelf
ARRAY logs UUID=1:2:3:4
ARRAY <ignore> UUID=5:6:7:8
MAI ignored@example.com
`), 0o644)
	want := MonitorConf{MailAddr: "ops@example.com", MailFrom: "mdadm on node1 <root@node1>", Program: "/usr/local/sbin/md-alert",
		Delay: 30, Arrays: []ConfArray{{Dev: "/dev/md/data", Spares: 1, SpareGroup: "shelf"}, {Dev: "/dev/md/logs", Spares: -1}}}
	if diff := cmp.Diff(want, ConfMonitor(root, "")); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if got := ConfMonitor(root, "/nonexistent.conf"); !cmp.Equal(got, MonitorConf{}) {
		t.Fatalf("missing file: %+v", got)
	}
}

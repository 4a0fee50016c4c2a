package getopt

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var longs = []LongOption{
	{Name: "detail", Code: 'D'},
	{Name: "detail-platform", Code: 400},
	{Name: "level", HasArg: RequiredArgument, Code: 'l'},
	{Name: "raid-disks", HasArg: RequiredArgument, Code: 'n'},
	{Name: "raid-devices", HasArg: RequiredArgument, Code: 'n'},
	{Name: "write-behind", HasArg: OptionalArgument, Code: 401},
	{Name: "scan", Code: 's'},
}

// scan returns what Next gives for args as "code=arg" words, a non-option
// as "1=word", and the error last.
func scan(short string, args ...string) string {
	s := NewScanner("prog", short, longs, args)
	var out []string
	for {
		o, ok, err := s.Next()
		if err != nil {
			out = append(out, "error: "+err.Error())
			break
		}
		if !ok {
			if r := s.Rest(); len(r) > 0 {
				out = append(out, "rest="+strings.Join(r, ","))
			}
			break
		}
		c := fmt.Sprint(o.Code)
		if o.Code > 1 && o.Code < 128 {
			c = string(rune(o.Code))
		}
		w := c + "=" + o.Arg
		if o.Code == 401 && !o.HasArg {
			w = c + "(none)"
		}
		out = append(out, w)
	}
	return strings.Join(out, " ")
}

func TestScanner(t *testing.T) {
	const short = "-Dsl:n:c:"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-Ds"}, "D= s="},
		{[]string{"-l1", "-n", "2"}, "l=1 n=2"},
		{[]string{"-Dl", "raid1"}, "D= l=raid1"},
		{[]string{"--level=raid1", "--level", "raid5"}, "l=raid1 l=raid5"},
		{[]string{"/dev/md0", "-D", "/dev/md1"}, "1=/dev/md0 D= 1=/dev/md1"},
		{[]string{"-D", "--", "-s", "x"}, "D= rest=-s,x"},
		{[]string{"-", "-D"}, "1=- D="},
		{[]string{"--det"}, "error: prog: option '--det' is ambiguous; possibilities: '--detail' '--detail-platform'"},
		{[]string{"--detail"}, "D="},
		{[]string{"--raid-d", "3"}, "n=3"}, // two names of one option are not ambiguous
		{[]string{"--sc"}, "s="},
		{[]string{"--write-behind", "x"}, "401(none) 1=x"},
		{[]string{"--write-behind=7"}, "401=7"},
		{[]string{"--scan=1"}, "error: prog: option '--scan' doesn't allow an argument"},
		{[]string{"--level"}, "error: prog: option '--level' requires an argument"},
		{[]string{"--nope=1"}, "error: prog: unrecognized option '--nope=1'"},
		{[]string{"-x"}, "error: prog: invalid option -- 'x'"},
		{[]string{"-Dn"}, "D= error: prog: option requires an argument -- 'n'"},
		{[]string{"-:"}, "error: prog: invalid option -- ':'"},
	} {
		if got := scan(short, c.args...); got != c.want {
			t.Errorf("%q:\n got %s\nwant %s", c.args, got, c.want)
		}
	}
}

// TestSwitchShort: a new short option string applies from the next option,
// as when mdadm picks a mode.
func TestSwitchShort(t *testing.T) {
	s := NewScanner("prog", "-Cb", longs, []string{"-C", "-b", "internal", "-bx"})
	var got []string
	for {
		o, ok, err := s.Next()
		if err != nil || !ok {
			break
		}
		got = append(got, string(rune(o.Code))+"="+o.Arg)
		if o.Code == 'C' {
			s.Short = "-Cb:"
		}
	}
	if diff := cmp.Diff([]string{"C=", "b=internal", "b=x"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// Package getopt scans a command line the way glibc's getopt_long does with
// an option string that starts with '-' (RETURN_IN_ORDER), which is how
// mdadm reads its arguments.
//
// mdadm's syntax is why this exists instead of a flag library: the short
// option string changes while scanning (after -C or -A, "-b" takes an
// argument and means --bitmap; in misc mode it means --brief), non-option
// arguments are returned in order between options (a device's disposition
// is the mode option seen before it), long options can be abbreviated to
// any unambiguous prefix (several names for the same option are not
// ambiguous), and a few long options take an optional argument only with
// "=". urfave/cli parses flags per command and reorders or rejects
// arguments after positional ones, so it cannot express any of this;
// spf13/pflag has neither in-order arguments nor a switchable short set
// nor getopt's abbreviations.
package getopt

import (
	"fmt"
	"strings"
)

// Argument kinds of a long option (getopt's has_arg).
const (
	NoArgument       = 0
	RequiredArgument = 1
	OptionalArgument = 2
)

// NonOption is the code returned for an argument that is not an option.
const NonOption = 1

// LongOption is one entry of getopt_long's longopts table.
type LongOption struct {
	Name   string
	HasArg int
	Code   int // returned when the option is found (a rune for short synonyms)
}

// Option is one result of Next.
type Option struct {
	Code int    // option code, NonOption for a plain argument
	Arg  string // the argument, or the non-option word
	// HasArg reports whether an argument was given (optional arguments).
	HasArg bool
	// Long is the index in the long option table, -1 for a short option
	// or a non-option.
	Long int
}

// Error is a scanning error, formatted as glibc prints it.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// Scanner scans arguments. Change Short between calls to Next to switch
// the short option string, as mdadm does when a mode is chosen.
type Scanner struct {
	Prog  string       // program name in error messages (argv[0])
	Short string       // short option string, as for getopt
	Long  []LongOption // long options

	args    []string
	next    int    // index of the next argument
	cluster string // rest of a bundle of short options ("-Ds" after D)
}

// NewScanner returns a Scanner over args (without the program name).
func NewScanner(prog, short string, long []LongOption, args []string) *Scanner {
	return &Scanner{Prog: prog, Short: short, Long: long, args: args}
}

// Next returns the next option. ok is false at the end of the options: all
// arguments used, or "--" seen (getopt returns -1 there and, in
// RETURN_IN_ORDER mode, leaves the rest to the caller; Rest returns it).
func (s *Scanner) Next() (opt Option, ok bool, err error) {
	if s.cluster != "" {
		return s.short()
	}
	if s.next >= len(s.args) {
		return Option{}, false, nil
	}
	a := s.args[s.next]
	if a == "--" {
		s.next++
		return Option{}, false, nil
	}
	if len(a) < 2 || a[0] != '-' {
		s.next++
		return Option{Code: NonOption, Arg: a, Long: -1}, true, nil
	}
	s.next++
	if strings.HasPrefix(a, "--") {
		return s.long(a[2:])
	}
	s.cluster = a[1:]
	return s.short()
}

// Rest returns the arguments after a "--" (which getopt does not scan).
func (s *Scanner) Rest() []string { return s.args[s.next:] }

func (s *Scanner) short() (Option, bool, error) {
	c := s.cluster[0]
	s.cluster = s.cluster[1:]
	i := strings.IndexByte(s.Short, c)
	if c == ':' || c == '-' || i < 0 {
		s.cluster = ""
		return Option{}, false, &Error{fmt.Sprintf("%s: invalid option -- '%c'", s.Prog, c)}
	}
	o := Option{Code: int(c), Long: -1}
	if i+1 < len(s.Short) && s.Short[i+1] == ':' {
		switch {
		case s.cluster != "":
			o.Arg, o.HasArg, s.cluster = s.cluster, true, ""
		case s.next < len(s.args):
			o.Arg, o.HasArg = s.args[s.next], true
			s.next++
		default:
			return Option{}, false, &Error{fmt.Sprintf("%s: option requires an argument -- '%c'", s.Prog, c)}
		}
	}
	return o, true, nil
}

// long handles "--name[=value]" (the leading dashes removed).
func (s *Scanner) long(word string) (Option, bool, error) {
	name, val, hasVal := strings.Cut(word, "=")
	idx := -1
	var ambig []int
	for i, lo := range s.Long {
		if lo.Name == name {
			idx, ambig = i, nil
			break
		}
		if !strings.HasPrefix(lo.Name, name) {
			continue
		}
		if idx < 0 {
			idx = i
			continue
		}
		// glibc: another prefix match is ambiguous only if it differs.
		p := s.Long[idx]
		if p.HasArg != lo.HasArg || p.Code != lo.Code {
			if ambig == nil {
				ambig = []int{idx}
			}
			ambig = append(ambig, i)
		}
	}
	if len(ambig) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "%s: option '--%s' is ambiguous; possibilities:", s.Prog, word)
		for _, i := range ambig {
			fmt.Fprintf(&b, " '--%s'", s.Long[i].Name)
		}
		return Option{}, false, &Error{b.String()}
	}
	if idx < 0 {
		return Option{}, false, &Error{fmt.Sprintf("%s: unrecognized option '--%s'", s.Prog, word)}
	}
	lo := s.Long[idx]
	o := Option{Code: lo.Code, Long: idx}
	switch lo.HasArg {
	case NoArgument:
		if hasVal {
			return Option{}, false, &Error{fmt.Sprintf("%s: option '--%s' doesn't allow an argument", s.Prog, lo.Name)}
		}
	case RequiredArgument:
		switch {
		case hasVal:
			o.Arg, o.HasArg = val, true
		case s.next < len(s.args):
			o.Arg, o.HasArg = s.args[s.next], true
			s.next++
		default:
			return Option{}, false, &Error{fmt.Sprintf("%s: option '--%s' requires an argument", s.Prog, lo.Name)}
		}
	case OptionalArgument:
		o.Arg, o.HasArg = val, hasVal
	}
	return o, true, nil
}

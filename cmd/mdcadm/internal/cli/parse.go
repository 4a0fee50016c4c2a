package cli

import (
	"fmt"
	"strings"

	"mdcluster.dev/cmd/mdcadm/internal/getopt"
	"mdcluster.dev/cmd/mdcadm/internal/mdadmview"
)

// Device is a device name from the command line with the action that was
// in force when it was named (mdadm's disposition: 'D', 'Q', 'X', 'E', …;
// 0 for none).
type Device = mdadmview.Device

// Config is a parsed mdadm command line.
type Config struct {
	Mode    Mode
	DevMode int // the last action option ('D', 'E', 'Q', 'X', …)
	Devices []Device

	Verbose    int
	Brief      bool
	Export     bool
	NoDevices  bool
	Scan       bool
	Test       bool
	Force      bool
	JSON       bool
	Homehost   string
	HomehostOK bool // --homehost given (possibly "<ignore>")
	// RequireHomehost is cleared by --homehost=<ignore>.
	RequireHomehost bool
	Prefer          string
	ConfigFile      string
	Metadata        string
	Sparc22         bool
	Help            int // 1: --help, 2: --help-options
	Version         bool
	// Options records every option given, by code, for the modes that
	// are not implemented yet.
	Options []getopt.Option
}

// exitError ends the command with a message on stderr and an exit code.
type exitError struct {
	code int
	msg  string // complete lines, each ending in "\n"
}

func (e *exitError) Error() string { return strings.TrimRight(e.msg, "\n") }

func fail(code int, format string, a ...any) *exitError {
	return &exitError{code: code, msg: fmt.Sprintf(Name+": "+format, a...)}
}

// usage is what mdadm prints for a bad option.
const usage = "Usage: " + Prog + " --help\n  for help\n"

// Parse parses args (without the program name) as mdadm 4.2's main() does:
// it picks the mode, checks which options the mode accepts and records the
// devices with their actions. Errors carry mdadm's message and exit code.
func Parse(args []string) (*Config, error) {
	c := &Config{RequireHomehost: true}
	sc := getopt.NewScanner(Prog, shortOptions, longOptions, args)
	devmode := 0
	subarray := ""
	for {
		o, ok, err := sc.Next()
		if err != nil {
			return nil, &exitError{code: 2, msg: err.Error() + "\n" + usage}
		}
		if !ok {
			break
		}
		if handled, version := c.globalOption(o); version {
			return c, nil
		} else if handled {
			continue
		}
		newmode := c.Mode
		if f, ok := forcedMode[o.Code]; ok {
			newmode = f.mode
			if f.short != "" {
				sc.Short = f.short
			}
		} else if m, ok := defaultMode[o.Code]; ok && c.Mode == ModeNone {
			newmode = m
			if m == ModeManage {
				sc.Short = shortBitmap
			}
		}
		switch {
		case c.Mode != ModeNone && newmode != c.Mode:
			return nil, fail(2, "%s would set mdadm mode to \"%s\", but it is already set to \"%s\".\n",
				optionName(o), newmode, c.Mode)
		case c.Mode == ModeNone && newmode != ModeNone:
			c.Mode = newmode
			if c.Mode == ModeMisc && len(c.Devices) > 0 {
				return nil, &exitError{code: 2, msg: fmt.Sprintf("%s: No action given for %s in --misc mode\n%*sAction options must come before device names\n",
					Name, c.Devices[0].Name, len(Name)+2, "")}
			}
		case c.Mode == ModeNone:
			if (o.Code == 'c' || o.Code == optConfigFile) &&
				(strings.HasPrefix(o.Arg, "--h") || strings.HasPrefix(o.Arg, "-h")) {
				c.Help = 3
				return c, nil
			}
			if o.Code == getopt.NonOption {
				if len(c.Devices) == 0 {
					c.Devices = append(c.Devices, Device{Name: o.Arg})
					continue
				}
				return nil, fail(2, "An option must be given to set the mode before a second device\n       (%s) is listed\n", o.Arg)
			}
			return nil, fail(2, "%s does not set the mode, and so cannot be the first option.\n", optionName(o))
		}
		if modeOnly[o.Code] {
			continue // the option only chose the mode
		}
		if o.Code == getopt.NonOption {
			if err := c.addDevice(o.Arg, devmode); err != nil {
				return nil, err
			}
			continue
		}
		if !validFor(c.Mode, o.Code) {
			if o.Long > 0 {
				return nil, fail(2, ":option --%s not valid in %s mode\n", longOptions[o.Long].Name, c.Mode)
			}
			return nil, fail(2, "option -%c not valid in %s mode\n", rune(o.Code), c.Mode)
		}
		c.Options = append(c.Options, o)
		if err := c.modeOption(o, &devmode, &subarray); err != nil {
			return nil, err
		}
	}
	if err := c.finish(devmode); err != nil {
		return nil, err
	}
	return c, nil
}

// addDevice records a device name with the action in force.
func (c *Config) addDevice(name string, devmode int) error {
	if len(c.Devices) > 0 && c.Mode == ModeManage && devmode == 0 {
		return fail(2, "Must give one of -a/-r/-f for subsequent devices at %s\n", name)
	}
	if len(c.Devices) > 0 && c.Mode == ModeGrow && devmode == 0 {
		return fail(2, "Must give -a/--add for devices to add: %s\n", name)
	}
	c.Devices = append(c.Devices, Device{Name: name, Disposition: devmode})
	return nil
}

// finish applies mdadm's defaults once every option is read: a device
// alone is --query, no mode is a usage error, --scan implies --brief.
func (c *Config) finish(devmode int) error {
	c.DevMode = devmode
	if c.Help == 0 && c.Mode == ModeNone && len(c.Devices) > 0 {
		c.Mode, c.DevMode = ModeMisc, 'Q'
		if c.Devices[0].Disposition == 0 {
			c.Devices[0].Disposition = 'Q'
		}
	}
	if c.Help == 0 && c.Mode == ModeNone {
		return &exitError{code: 2, msg: usage}
	}
	if c.Scan && c.Verbose < 2 {
		c.Brief = true // --scan implies --brief unless -vv
	}
	return nil
}

// globalOption applies an option that means the same in every mode. It
// reports whether o was one, and whether it was --version (which ends the
// parse).
func (c *Config) globalOption(o getopt.Option) (handled, version bool) {
	switch o.Code {
	case optHelpOptions:
		c.Help = 2
		return true, false
	case 'h':
		c.Help = 1
		return true, false
	case 'V':
		c.Version = true
		return true, true
	case 'v':
		c.Verbose++
		return true, false
	case 'q':
		c.Verbose--
		return true, false
	case 'b', optBrief:
		if o.Code == 'b' && bitmapMode(c.Mode) {
			return false, false // -b means --bitmap here
		}
		c.Brief = true
		return true, false
	case optNoDevices:
		c.NoDevices = true
		return true, false
	case 'Y':
		c.Export = true
		return true, false
	case optJSON:
		c.JSON = true
		return true, false
	case optHomeHost:
		if strings.EqualFold(o.Arg, "<ignore>") {
			c.RequireHomehost = false
		} else {
			c.Homehost, c.HomehostOK = o.Arg, true
		}
		return true, false
	case optOffRoot:
		return true, false
	case optPrefer:
		c.Prefer = "/" + o.Arg + "/"
		return true, false
	}
	return false, false
}

// modeOnly are the options that do nothing but choose the mode.
var modeOnly = map[int]bool{optManage: true, optMisc: true, 'A': true, 'B': true, 'C': true, 'F': true,
	'G': true, 'I': true, optAutoDetect: true}

// bitmapMode reports whether -b means --bitmap in mode m.
func bitmapMode(m Mode) bool {
	switch m {
	case ModeAssemble, ModeBuild, ModeCreate, ModeGrow, ModeIncremental, ModeManage:
		return true
	}
	return false
}

func validFor(m Mode, code int) bool {
	for _, v := range validIn[m] {
		if v == code {
			return true
		}
	}
	return false
}

// modeOption applies an option that depends on the mode. Values of the
// modes not implemented yet are only recorded in c.Options.
func (c *Config) modeOption(o getopt.Option, devmode *int, subarray *string) error {
	switch c.Mode {
	case ModeMisc:
		return c.miscOption(o, devmode, subarray)
	case ModeGrow:
		if o.Code == 'a' || o.Code == optAdd {
			*devmode = 'a'
		}
	case ModeIncremental:
		if o.Code == 'f' || o.Code == optRemove || o.Code == optFail {
			*devmode = 'f'
		}
	case ModeManage:
		switch o.Code {
		case 'a', optAdd:
			*devmode = 'a'
		case optAddSpare:
			*devmode = 'S'
		case optAddJournal:
			*devmode = 'j'
		case optReAdd:
			*devmode = 'A'
		case 'r', optRemove:
			*devmode = 'r'
		case 'f', optFail:
			*devmode = 'f'
		case optClusterConfirm:
			*devmode = 'c'
		case optReplace:
			*devmode = 'R'
		case optWith:
			if *devmode != 'R' {
				return fail(2, "--with must follow --replace\n")
			}
			*devmode = 'W'
		}
	}
	return nil
}

func (c *Config) miscOption(o getopt.Option, devmode *int, subarray *string) error {
	switch o.Code {
	case 'e':
		if c.Metadata != "" {
			return fail(2, "metadata information already given\n")
		}
		if !knownMetadata(o.Arg) {
			return fail(2, "unrecognised metadata identifier: %s\n", o.Arg)
		}
		c.Metadata = o.Arg
	case 'f', optForce:
		c.Force = true
	case 'N':
		if *subarray == "" {
			return fail(2, "-N/--name only valid with --update-subarray in misc mode\n")
		}
	case 'U':
		if *subarray == "" {
			return fail(2, "Only subarrays can be updated in misc mode\n")
		}
	case 'c', optConfigFile:
		if c.ConfigFile != "" {
			return fail(2, "configfile cannot be set twice.  Second value is %s.\n", o.Arg)
		}
		c.ConfigFile = o.Arg
	case 's':
		c.Scan = true
	case 't':
		c.Test = true
	case optSparc22:
		if *devmode != 'E' {
			return fail(2, "--sparc2.2 only allowed with --examine\n")
		}
		c.Sparc22 = true
	case optUdevRules:
		*devmode = o.Code
	default:
		if !miscActions[o.Code] {
			return nil
		}
		if o.Code == optKillSubarray || o.Code == optUpdateSubarray {
			if *subarray != "" {
				return fail(2, "subarray can only be specified once\n")
			}
			*subarray = o.Arg
		}
		if o.Code == optAction {
			switch o.Arg {
			case "idle", "frozen", "check", "repair":
			default:
				return fail(2, "action must be one of idle, frozen, check, repair\n")
			}
		}
		d := *devmode
		if d != 0 && d != o.Code && (d == 'E' || (o.Code == 'E' && d != 'Q')) {
			switch {
			case d == 'E':
				return fail(2, "--examine/-E cannot be given with %s\n", optionName(o))
			case d < 128 && isAlpha(byte(d)):
				return fail(2, "--examine/-E cannot be given with -%c\n", rune(d))
			default:
				return fail(2, "--examine/-E cannot be given with previous option\n")
			}
		}
		*devmode = o.Code
	}
	return nil
}

func isAlpha(b byte) bool { return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') }

// knownMetadata reports whether mdadm 4.2 knows a --metadata name
// (match_metadata_desc of super0, super1, ddf and imsm).
func knownMetadata(s string) bool {
	switch s {
	case "0", "0.90", "0.90.0", "00.90", "0.swap", "default", "1", "1.0", "1.1", "1.2", "1.00", "1.01",
		"1.02", "01.00", "01.01", "01.02", "ddf", "imsm":
		return true
	}
	return false
}

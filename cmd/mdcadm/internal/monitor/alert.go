package monitor

import (
	"context"
	"fmt"
	"io"
	"log/syslog"
	"os"
	"os/exec"
	"strings"
	"time"
)

// programTimeout bounds one run of the alert program (mdadm waits for it without a bound; a
// hung program must not stop the monitor for good).
const programTimeout = 5 * time.Minute

// Alerter sends an event where mdadm --monitor would: the alert program, mail, syslog, or (with
// none of them) a line on stdout.
type Alerter struct {
	Program  string
	MailAddr string
	MailFrom string
	Syslog   *syslog.Writer // nil: no syslog
	Stdout   io.Writer
	Hostname string
	// Sendmail is the mailer command line ("/usr/sbin/sendmail -t"), Mdstat the file appended
	// to a mail (/proc/mdstat).
	Sendmail, Mdstat string
	// Env is added to the program's environment (the node, the event's id in the cluster).
	Env  []string
	Now  func() time.Time
	Warn io.Writer // where the monitor's own problems go (stderr)
}

// Send delivers ev; extra is added to the program's environment for this event only.
func (a *Alerter) Send(ev Event, extra ...string) {
	if a.Program == "" && a.MailAddr == "" && a.Syslog == nil {
		// mdadm prints ctime's "Mon Jan  2 15:04:05" without the weekday.
		fmt.Fprintf(a.Stdout, "%s: %s on %s %s\n", a.Now().Format("Jan _2 15:04:05"), ev.Name, ev.Dev, orUnknown(ev.Disc))
	}
	if a.Program != "" {
		a.run(ev, extra)
	}
	if a.MailAddr != "" && mailed(ev.Name) {
		if err := a.mail(ev); err != nil {
			fmt.Fprintf(a.Warn, "mdadm: cannot mail %s event on %s: %v\n", ev.Name, ev.Dev, err)
		}
	}
	if a.Syslog != nil {
		a.syslog(ev)
	}
}

func orUnknown(disc string) string {
	if disc == "" {
		return "unknown device"
	}
	return disc
}

// run starts the alert program with the event, the md device and, when there is one, the
// component device, and waits for it.
func (a *Alerter) run(ev Event, extra []string) {
	args := []string{ev.Name, ev.Dev}
	if ev.Disc != "" {
		args = append(args, ev.Disc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), programTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, a.Program, args...)
	cmd.Env = append(append(os.Environ(), a.Env...), extra...)
	cmd.Stdout, cmd.Stderr = a.Warn, a.Warn
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(a.Warn, "mdadm: alert program %s %s: %v\n", a.Program, strings.Join(args, " "), err)
	}
}

// mailed reports whether mdadm mails an event: failures, tests, missing spares, degradation.
func mailed(name string) bool {
	for _, p := range []string{"Fail", "Test", "Spares", "Degrade"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// mail pipes a message like mdadm's to the mailer.
func (a *Alerter) mail(ev Event) error {
	var b strings.Builder
	from := a.MailFrom
	if from == "" {
		from = "mdadm monitoring <root>"
	}
	fmt.Fprintf(&b, "From: %s\nTo: %s\nSubject: %s event on %s:%s\n\n", from, a.MailAddr, ev.Name, ev.Dev, a.Hostname)
	fmt.Fprintf(&b, "This is an automatically generated mail message from mdadm\nrunning on %s\n\n", a.Hostname)
	fmt.Fprintf(&b, "A %s event had been detected on md device %s.\n\n", ev.Name, ev.Dev)
	switch {
	case ev.Disc != "" && ev.Disc[0] != ' ':
		fmt.Fprintf(&b, "It could be related to component device %s.\n\n", ev.Disc)
	case ev.Disc != "":
		fmt.Fprintf(&b, "Extra information:%s.\n\n", ev.Disc)
	}
	b.WriteString("Faithfully yours, etc.\n")
	if st, err := os.ReadFile(a.Mdstat); err == nil {
		fmt.Fprintf(&b, "\nP.S. The /proc/mdstat file currently contains the following:\n\n%s", st)
	}
	f := strings.Fields(a.Sendmail)
	if len(f) == 0 {
		return fmt.Errorf("no mailer")
	}
	ctx, cancel := context.WithTimeout(context.Background(), programTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, f[0], f[1:]...)
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", a.Sendmail, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// syslog logs the event at mdadm's priority: critical for failures, degradation and a vanished
// device, informational for SparesMissing, a warning for the rest.
func (a *Alerter) syslog(ev Event) {
	var msg string
	switch {
	case ev.Disc != "" && ev.Disc[0] != ' ':
		msg = fmt.Sprintf("%s event detected on md device %s, component device %s", ev.Name, ev.Dev, ev.Disc)
	case ev.Disc != "":
		msg = fmt.Sprintf("%s event detected on md device %s: %s", ev.Name, ev.Dev, ev.Disc)
	default:
		msg = fmt.Sprintf("%s event detected on md device %s", ev.Name, ev.Dev)
	}
	switch {
	case strings.HasPrefix(ev.Name, "Fail"), strings.HasPrefix(ev.Name, "Degrade"), strings.HasPrefix(ev.Name, "DeviceDisappeared"):
		_ = a.Syslog.Crit(msg)
	case strings.HasPrefix(ev.Name, "Spares"):
		_ = a.Syslog.Info(msg)
	default:
		_ = a.Syslog.Warning(msg)
	}
}

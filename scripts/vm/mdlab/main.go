// Command mdlab is the VM lab's tool. On the host it runs the demo; inside a guest it is the lab
// agent and a few helpers the scenarios use.
//
//	mdlab demo [-keep]                 boot the 2-VM cluster and narrate the clustered RAID1 scenario
//	mdlab guest -port DEV -node N      (guest) serve the host's requests on a virtio-serial port
//	mdlab odwrite DEV OFFSET TEXT      (guest) O_DIRECT write of one 4 KiB block
//	mdlab odread DEV OFFSET            (guest) O_DIRECT read of one 4 KiB block, printed up to NUL
//	mdlab dlmaddr PATH IPV4            (guest) write a DLM configfs comms addr (sockaddr_storage)
//	mdlab etcd leader|move-leader NAME (guest) the agents' etcd cluster: its leader; hand leadership over
//	mdlab faults [flags]               the fault campaign (see internal/faults)
//	mdlab bench [flags]                the figures on the real kernel (see internal/benchvm)
//	mdlab workload [flags]             (guest) the campaign's writers and md sampler
//	mdlab verify DEV OFFSET BLOCKS     (guest) read a region back, one JSON line per written block
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"mdcluster.dev/internal/vmlab"
)

const usage = `usage:
  mdlab demo [-keep]
  mdlab guest -port DEV -node N
  mdlab odwrite DEV OFFSET TEXT
  mdlab odread DEV OFFSET
  mdlab dlmaddr PATH IPV4
  mdlab faults [-seed N] [-rounds N | -duration D] [-out DIR]
  mdlab bench [-pairs N] [-mib N] [-idle D]
  mdlab workload -node N -epoch N -targets TAG:UUID:OFFSET:BLOCKS[,…]
  mdlab verify DEV OFFSET BLOCKS
  mdlab etcd leader
  mdlab etcd move-leader NAME`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "mdlab %s: %v\n", os.Args[1], err)
		if _, ok := err.(usageError); ok {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError string

func (e usageError) Error() string { return string(e) + "\n" + usage }

func run(ctx context.Context, cmd string, args []string) error {
	switch cmd {
	case "demo":
		fs := flag.NewFlagSet("demo", flag.ContinueOnError)
		keep := fs.Bool("keep", false, "keep the run directory (disk images, console logs)")
		if err := fs.Parse(args); err != nil {
			return usageError(err.Error())
		}
		return demo(ctx, *keep)
	case "guest":
		fs := flag.NewFlagSet("guest", flag.ContinueOnError)
		port := fs.String("port", "", "virtio-serial device")
		node := fs.Int("node", 0, "node id (default: mdlab.node= on the kernel command line)")
		if err := fs.Parse(args); err != nil {
			return usageError(err.Error())
		}
		if *port == "" {
			return usageError("guest: -port is required")
		}
		if *node == 0 {
			*node = vmlab.CmdlineNode()
		}
		f, err := vmlab.OpenPort(ctx, *port)
		if err != nil {
			return err
		}
		defer f.Close()
		return vmlab.NewGuest(*node, f).Serve(ctx)
	case "odwrite":
		if len(args) != 3 {
			return usageError("odwrite: want DEV OFFSET TEXT")
		}
		off, err := strconv.ParseInt(args[1], 0, 64)
		if err != nil {
			return usageError("odwrite: bad OFFSET " + strconv.Quote(args[1]))
		}
		return vmlab.DirectWrite(args[0], off, args[2])
	case "odread":
		if len(args) != 2 {
			return usageError("odread: want DEV OFFSET")
		}
		off, err := strconv.ParseInt(args[1], 0, 64)
		if err != nil {
			return usageError("odread: bad OFFSET " + strconv.Quote(args[1]))
		}
		s, err := vmlab.DirectRead(args[0], off)
		if err != nil {
			return err
		}
		fmt.Println(s)
		return nil
	case "dlmaddr":
		if len(args) != 2 {
			return usageError("dlmaddr: want PATH IPV4")
		}
		return vmlab.WriteDLMAddr(args[0], args[1])
	case "etcd":
		return etcdCmd(ctx, args)
	case "faults":
		return runFaults(ctx, args)
	case "bench":
		return runBench(ctx, args)
	case "workload":
		return runWorkload(ctx, args)
	case "verify":
		return runVerify(args)
	default:
		return usageError("unknown command " + strconv.Quote(cmd))
	}
}

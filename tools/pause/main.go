// Command pause is the pod sandbox's process, built here because no image can be pulled: it waits for SIGINT or
// SIGTERM and reaps the children re-parented to it, like Kubernetes' own pause. With arguments (`pause -- CMD ...`)
// it is an init instead: PID 1 of the real-node tier's namespaces, it runs CMD (with the descriptors it inherited), forwards SIGINT/SIGTERM to it, reaps
// every orphan (containerd's shims), and exits with CMD's status, which tears the PID namespace down with it.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const version = "1.0.0"

func main() {
	args := os.Args[1:]
	if len(args) == 1 && (args[0] == "-v" || args[0] == "--version") {
		fmt.Println("pause (vstream)", version)
		return
	}
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	// Descriptors inherited beyond stdio (e.g. a Node IPC channel on fd 3) are handed on to CMD, in order.
	files := []*os.File{os.Stdin, os.Stdout, os.Stderr}
	for fd := uintptr(3); fd < 16; fd++ {
		if _, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFD, 0); errno != 0 {
			break
		}
		files = append(files, os.NewFile(fd, fmt.Sprintf("fd%d", fd)))
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	child := -1
	if len(args) > 0 {
		p, err := os.StartProcess(args[0], args, &os.ProcAttr{
			Files: files,
			Env:   os.Environ(),
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "pause:", err)
			os.Exit(127)
		}
		child = p.Pid
	}
	for s := range sigs {
		if s != syscall.SIGCHLD {
			if child < 0 {
				os.Exit(0)
			}
			_ = syscall.Kill(child, s.(syscall.Signal))
			continue
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
			if pid == child {
				if ws.Signaled() {
					os.Exit(128 + int(ws.Signal()))
				}
				os.Exit(ws.ExitStatus())
			}
		}
	}
}

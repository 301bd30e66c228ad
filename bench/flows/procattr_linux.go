package main

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel kill cmd if this process dies without
// stopping it (kill -9, a crash), so no server outlives the benchmark.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

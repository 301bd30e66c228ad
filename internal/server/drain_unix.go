//go:build unix

package server

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// readable reports whether at least one byte waits to be read on the
// connected socket fd, without reading it or waiting.
func readable(fd uintptr) bool {
	var b [1]byte
	n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err == nil && n > 0
}

// acceptable reports whether a connection waits to be accepted on the
// listening socket fd, without accepting it or waiting.
func acceptable(fd uintptr) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0 && fds[0].Revents&unix.POLLIN != 0
}

//go:build unix

package server

import "syscall"

// readable reports whether at least one byte waits to be read on the
// socket fd, without reading it or waiting.
func readable(fd uintptr) bool {
	var b [1]byte
	n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err == nil && n > 0
}

//go:build !unix

package server

// readable cannot tell on this system: Drain then relies on Grace alone.
func readable(fd uintptr) bool { return false }

// acceptable cannot tell on this system: listeners close at once.
func acceptable(fd uintptr) bool { return false }

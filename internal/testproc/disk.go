package testproc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// Disk is a small tmpfs of its own, which Fill fills to the last byte so
// that a database on it refuses writes for lack of space, and Free frees
// again. Mounting needs root.
type Disk struct {
	Dir string
}

// MountDisk mounts a tmpfs of size (e.g. "16m") on a new temporary
// directory. Without root it returns an error wrapping ErrNotInstalled.
func MountDisk(size string) (*Disk, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("mounting a tmpfs needs root: %w", ErrNotInstalled)
	}
	dir, err := os.MkdirTemp("", "gatehouse-disk-")
	if err != nil {
		return nil, err
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("mount tmpfs: %v: %s: %w", err, out, ErrNotInstalled)
	}
	return &Disk{Dir: dir}, nil
}

func (d *Disk) filler() string { return filepath.Join(d.Dir, "filler") }

// Fill writes a file until the disk has no byte left.
func (d *Disk) Fill() error {
	f, err := os.OpenFile(d.filler(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, size := range []int{1 << 20, 4 << 10, 1} {
		buf := make([]byte, size)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					return err
				}
				break
			}
		}
	}
	return nil
}

// Free removes what Fill wrote.
func (d *Disk) Free() error { return os.Remove(d.filler()) }

// Unmount unmounts the disk (lazily: a process may still hold a file on
// it) and removes its directory.
func (d *Disk) Unmount() error {
	if out, err := exec.Command("umount", "-l", d.Dir).CombinedOutput(); err != nil {
		return fmt.Errorf("umount %s: %v %s", d.Dir, err, out)
	}
	return os.Remove(d.Dir)
}

// MountDiskT is MountDisk for a test: it skips t without root and
// unmounts the disk when t ends (register it before the servers that use
// the disk, so that it runs after they stopped).
func MountDiskT(t testing.TB, size string) *Disk {
	t.Helper()
	d, err := MountDisk(size)
	if errors.Is(err, ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Unmount(); err != nil {
			t.Error(err)
		}
	})
	return d
}

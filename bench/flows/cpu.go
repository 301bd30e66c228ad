package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of /proc's CPU times (USER_HZ, 100 on every Linux
// architecture Go supports).
const clockTick = 10 * time.Millisecond

// cpuSample is the CPU time of gatehouse, of this process and of the whole
// machine (busy) at one instant; ok is false without /proc.
type cpuSample struct {
	at                    time.Time
	gatehouse, self, busy time.Duration
	ok                    bool
}

func sampleCPU(pid int) cpuSample {
	s := cpuSample{at: time.Now()}
	var err1, err2, err3 error
	s.gatehouse, err1 = cpuTime(pid)
	s.self, err2 = cpuTime(0)
	s.busy, err3 = machineBusy()
	s.ok = errors.Join(err1, err2, err3) == nil
	return s
}

// since returns the cores each process used between b and s, and its CPU
// time per operation in microseconds; nils without /proc.
func (s cpuSample) since(b cpuSample, ops int) (cores, perOp map[string]float64) {
	if !s.ok || !b.ok {
		return nil, nil
	}
	wall := s.at.Sub(b.at).Seconds()
	gh, self := s.gatehouse-b.gatehouse, s.self-b.self
	other := max(0, s.busy-b.busy-gh-self)
	cores = map[string]float64{"gatehouse": gh.Seconds() / wall, "generator": self.Seconds() / wall, "other": other.Seconds() / wall}
	if ops > 0 {
		perOp = map[string]float64{"gatehouse": float64(gh.Microseconds()) / float64(ops), "generator": float64(self.Microseconds()) / float64(ops)}
	}
	return cores, perOp
}

// machineBusy is the machine's busy CPU time (/proc/stat: user, nice,
// system, irq, softirq).
func machineBusy() (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected format")
	}
	var busy uint64
	for _, i := range []int{1, 2, 3, 6, 7} {
		v, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		busy += v
	}
	return time.Duration(busy) * clockTick, nil
}

// cpuTime returns utime+stime of process pid (0: this process), all threads
// included, from /proc/<pid>/stat.
func cpuTime(pid int) (time.Duration, error) {
	path := "/proc/self/stat"
	if pid < 0 {
		return 0, errors.New("no process")
	} else if pid != 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/stat"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may contain spaces;
	// the fields after the last ')' start at field 3 (state). utime and
	// stime are fields 14 and 15.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: unexpected format", path)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: unexpected format", path)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

package node

import (
	"bufio"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"

	"github.com/tffs/tffs/protocol"
)

// cpuSampler turns /proc/stat counters into a usage fraction between samples.
type cpuSampler struct{ idle, total uint64 }

func (c *cpuSampler) sample() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var idle, total uint64
	for i, s := range f[1:] {
		v, _ := strconv.ParseUint(s, 10, 64)
		total += v
		if i == 3 || i == 4 {
			idle += v
		}
	}
	dIdle, dTotal := idle-c.idle, total-c.total
	c.idle, c.total = idle, total
	if dTotal == 0 {
		return 0
	}
	return 1 - float64(dIdle)/float64(dTotal)
}

func readStats(cpu *cpuSampler, containers int) protocol.NodeStats {
	st := protocol.NodeStats{CPUs: goruntime.NumCPU(), Containers: containers, CPUUsage: cpu.sample()}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			st.Load1, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":")
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			switch k {
			case "MemTotal":
				st.MemTotal = kb * 1024
			case "MemAvailable":
				st.MemFree = kb * 1024
			}
		}
	}
	return st
}

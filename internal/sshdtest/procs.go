package sshdtest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procID names one process instance: a PID plus its start time, so a PID
// reused by an unrelated process is never signalled.
type procID struct {
	pid   int
	start uint64
}

// procInfo is what the helpers read about a process from /proc.
type procInfo struct {
	procID
	ppid   int
	zombie bool
}

// readProc reads /proc/PID/stat.
func readProc(pid int) (procInfo, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procInfo{}, fmt.Errorf("read stat of process %d: %w", pid, err)
	}
	return parseStat(pid, string(b))
}

// parseStat parses the content of /proc/PID/stat. The command name may hold
// spaces and parentheses, so fields are counted from the last ')'.
func parseStat(pid int, s string) (procInfo, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procInfo{}, fmt.Errorf("parse stat of process %d: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state), f[1] field 4 (ppid), f[19] field 22 (starttime).
	if len(f) < 20 || len(f[0]) != 1 {
		return procInfo{}, fmt.Errorf("parse stat of process %d: %d fields", pid, len(f))
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procInfo{}, fmt.Errorf("parse parent of process %d: %w", pid, err)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procInfo{}, fmt.Errorf("parse start time of process %d: %w", pid, err)
	}
	return procInfo{
		procID: procID{pid: pid, start: start},
		ppid:   ppid,
		zombie: f[0][0] == 'Z' || f[0][0] == 'X',
	}, nil
}

// listProcs reads every process in /proc. Processes that exit while it reads
// are left out.
func listProcs() ([]procInfo, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	procs := make([]procInfo, 0, len(names))
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		p, err := readProc(pid)
		if err != nil {
			continue
		}
		procs = append(procs, p)
	}
	return procs, nil
}

// alive reports whether the process instance still runs (a zombie does not).
func alive(id procID) bool {
	p, err := readProc(id.pid)
	return err == nil && p.start == id.start && !p.zombie
}

// signal sends sig to the process instance when it still runs.
func signal(id procID, sig syscall.Signal) {
	if alive(id) {
		_ = syscall.Kill(id.pid, sig)
	}
}

// isSSHD reports whether the process runs the sshd binary.
func isSSHD(pid int) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return false
	}
	return strings.TrimSuffix(exe, " (deleted)") == SSHDPath
}

// descendants returns the live descendants of root.
func descendants(root int) []procID {
	procs, err := listProcs()
	if err != nil {
		return nil
	}
	children := make(map[int][]procInfo)
	for _, p := range procs {
		children[p.ppid] = append(children[p.ppid], p)
	}
	var out []procID
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			if c.zombie {
				continue
			}
			out = append(out, c.procID)
			queue = append(queue, c.pid)
		}
	}
	return out
}

// killTree kills root (when withRoot is set) and those of its descendants
// for which match returns true. To keep processes from escaping (forking or
// being re-parented while it works), it first freezes the tree with SIGSTOP,
// walking it until no new process shows up, then sends SIGKILL to everything
// frozen, and returns those. A descendant for which match returns false is
// neither signalled nor walked into; it is returned in spared, so the caller
// can kill it later. A nil match matches every process.
func killTree(root procID, withRoot bool, match func(pid int) bool) (killed, spared []procID) {
	frozen := make(map[int]procID)
	skip := make(map[int]procID)
	if withRoot && alive(root) {
		_ = syscall.Kill(root.pid, syscall.SIGSTOP)
		frozen[root.pid] = root
	}
	for range 200 {
		procs, err := listProcs()
		if err != nil {
			break
		}
		children := make(map[int][]procInfo)
		for _, p := range procs {
			children[p.ppid] = append(children[p.ppid], p)
		}
		found := false
		queue := []int{root.pid}
		for len(queue) > 0 {
			pid := queue[0]
			queue = queue[1:]
			for _, c := range children[pid] {
				if _, ok := frozen[c.pid]; ok {
					queue = append(queue, c.pid)
					continue
				}
				if _, ok := skip[c.pid]; ok || c.zombie {
					continue
				}
				if match != nil && !match(c.pid) {
					skip[c.pid] = c.procID
					continue
				}
				_ = syscall.Kill(c.pid, syscall.SIGSTOP)
				frozen[c.pid] = c.procID
				found = true
				queue = append(queue, c.pid)
			}
		}
		if !found {
			break
		}
	}
	for _, id := range frozen {
		signal(id, syscall.SIGKILL)
		killed = append(killed, id)
	}
	for _, id := range skip {
		spared = append(spared, id)
	}
	return killed, spared
}

// waitGone polls until none of ids runs any more, or the timeout passes.
func waitGone(ids []procID, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var left []int
		for _, id := range ids {
			if alive(id) {
				left = append(left, id.pid)
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v still run after %v", left, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// procUIDs returns the real, effective, saved and filesystem uids of pid.
func procUIDs(pid int) ([]int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, fmt.Errorf("read status of process %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "Uid:")
		if !ok {
			continue
		}
		var uids []int
		for _, s := range strings.Fields(rest) {
			uid, err := strconv.Atoi(s)
			if err != nil {
				return nil, fmt.Errorf("parse uid of process %d: %w", pid, err)
			}
			uids = append(uids, uid)
		}
		return uids, nil
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read status of process %d: %w", pid, err)
	}
	return nil, errors.New("no Uid line")
}

// userProcs returns the live processes running with uid as any of their uids.
func userProcs(uid int) []procID {
	procs, err := listProcs()
	if err != nil {
		return nil
	}
	var out []procID
	for _, p := range procs {
		if p.zombie {
			continue
		}
		uids, err := procUIDs(p.pid)
		if err != nil {
			continue
		}
		for _, u := range uids {
			if u == uid {
				out = append(out, p.procID)
				break
			}
		}
	}
	return out
}

// killUser kills every process of uid, polling until none is left or the
// timeout passes. uid 0 is refused.
func killUser(uid int, timeout time.Duration) error {
	if uid == 0 {
		return errors.New("kill processes of uid 0: refused")
	}
	deadline := time.Now().Add(timeout)
	for {
		procs := userProcs(uid)
		if len(procs) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kill processes of uid %d: %d still run after %v", uid, len(procs), timeout)
		}
		for _, id := range procs {
			signal(id, syscall.SIGKILL)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

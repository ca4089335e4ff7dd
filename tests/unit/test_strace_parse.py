"""labcore.teach.strace: strace's lines parsed into events, and a container start's phases found in them."""

from labcore.teach import strace

RUNC_LIKE = """\
100 1700000000.000100 execve("/usr/sbin/runc", ["/usr/sbin/runc", "run", "box"], 0x7ffd /* 35 vars */) = 0 <0.000300>
100 1700000000.001000 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM, child_tid=0x7f, parent_tid=0x7f, exit_signal=0, stack=0x7f, stack_size=0x7fff80, tls=0x7f} => {parent_tid=[101]}, 88) = 101 <0.000100>
101 1700000000.002000 mknodat(AT_FDCWD, "/run/rt/box/exec.fifo", S_IFIFO|0622 <unfinished ...>
100 1700000000.002100 futex(0xc000, FUTEX_WAKE_PRIVATE, 1) = 1 <0.000010>
101 1700000000.002200 <... mknodat resumed>) = 0 <0.000200>
101 1700000000.003000 clone(child_stack=NULL, flags=CLONE_VM|CLONE_VFORK|SIGCHLD <unfinished ...>
102 1700000000.003500 execve("/proc/self/exe", ["/usr/sbin/runc", "init"], 0xc0000 /* 7 vars */ <unfinished ...>
101 1700000000.003600 <... clone resumed>) = 102 <0.000600>
102 1700000000.003700 <... execve resumed>) = 0 <0.000200>
101 1700000000.004000 mkdirat(AT_FDCWD, "/sys/fs/cgroup/pids/lab/box", 0755) = 0 <0.000050>
101 1700000000.004100 openat2(3, "pids/lab/box/cgroup.procs", {flags=O_WRONLY|O_CLOEXEC, resolve=RESOLVE_BENEATH}, 24) = 8 <0.000040>
102 1700000000.005000 seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, NULL) = -1 EFAULT (Bad address) <0.000010>
102 1700000000.005100 prctl(PR_SET_NAME, "runc:[0:PARENT]") = 0 <0.000010>
102 1700000000.005200 clone(child_stack=0x7ffd, flags=CLONE_PARENT|SIGCHLD) = 103 <0.000300>
103 1700000000.005300 unshare(CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWPID|CLONE_NEWNET) = 0 <0.001000>
103 1700000000.006400 clone(child_stack=0x7ffd, flags=CLONE_PARENT|SIGCHLD) = 1 /* 104 in strace's PID NS */ <0.000300>
103 1700000000.006800 exit_group(0)                = ?
103 1700000000.006900 +++ exited with 0 +++
101 1700000000.007000 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=103, si_uid=0, si_status=0, si_utime=0, si_stime=0} ---
104 1700000000.007100 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD, exit_signal=0} => {parent_tid=[2 /* 105 in strace's PID NS */]}, 88) = 2 /* 105 in strace's PID NS */ <0.000100>
105 1700000000.007200 nanosleep({tv_sec=0, tv_nsec=20000}, NULL) = 0 <0.000080>
104 1700000000.008000 mount("", "/", 0xc00014, MS_REC|MS_SLAVE, NULL) = 0 <0.000020>
104 1700000000.008100 mount("/b/rootfs", "/b/rootfs", 0xc00014, MS_BIND|MS_REC, NULL) = 0 <0.000050>
104 1700000000.008200 mount("proc", "/proc/self/fd/6", "proc", 0, NULL) = 0 <0.000100>
104 1700000000.008300 mount("tmpfs", "/proc/self/fd/6", "tmpfs", MS_NOSUID|MS_STRICTATIME, "mode=755,size=65536k") = 0 <0.000100>
104 1700000000.008400 mknodat(AT_FDCWD, "/b/rootfs/dev/null", S_IFCHR|0666, makedev(0x1, 0x3)) = 0 <0.000040>
104 1700000000.008500 mount("sysfs", "/proc/self/fd/6", "sysfs", MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL) = 0 <0.000060>
104 1700000000.009000 pivot_root(".", "." <unfinished ...>
105 1700000000.009010 --- SIGURG {si_signo=SIGURG, si_code=SI_TKILL, si_pid=1, si_uid=0} ---
104 1700000000.009100 <... pivot_root resumed>) = 0 <0.000100>
104 1700000000.009200 umount2(".", MNT_DETACH) = 0 <0.000100>
104 1700000000.009300 mount("", "/", 0xc000, MS_RDONLY|MS_REMOUNT|MS_BIND, NULL) = 0 <0.000020>
104 1700000000.009400 sethostname("box", 3) = 0 <0.000010>
104 1700000000.009500 mount("/proc/sys", "/proc/sys", 0xc000, MS_BIND|MS_REC, NULL) = 0 <0.000020>
104 1700000000.009600 mount("/proc/sys", "/proc/sys", 0xc000, MS_RDONLY|MS_REMOUNT|MS_BIND, NULL) = 0 <0.000020>
104 1700000000.009700 mount("/dev/null", "/proc/kcore", 0xc000, MS_BIND, NULL) = 0 <0.000020>
104 1700000000.009800 mount("tmpfs", "/proc/acpi", "tmpfs", MS_RDONLY, NULL) = 0 <0.000020>
104 1700000000.009900 mount("/dev/null", "/proc/scsi", 0xc000, MS_BIND, NULL) = -1 ENOENT (No such file or directory) <0.000010>
104 1700000000.010000 prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) = 0 <0.000010>
104 1700000000.010100 prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN) = 0 <0.000010>
104 1700000000.010200 capset({version=_LINUX_CAPABILITY_VERSION_3, pid=0}, {effective=1<<CAP_KILL, permitted=1<<CAP_KILL, inheritable=0}) = 0 <0.000010>
104 1700000000.010300 prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, {len=10, filter=0xc0000ad100}) = 0 <0.000100>
101 1700000000.010400 openat(AT_FDCWD, "/run/rt/box/exec.fifo", O_RDONLY|O_CLOEXEC <unfinished ...>
104 1700000000.010500 openat(AT_FDCWD, "/proc/self/fd/5", O_WRONLY|O_CLOEXEC) = 3 <0.000100>
101 1700000000.010600 <... openat resumed>) = 9 <0.000200>
104 1700000000.011000 execve("/bin/sh", ["sh", "-c", "echo \\"a) = 1\\""], 0xc0000 /* 3 vars */) = 0 <0.002000>
104 1700000000.013000 exit_group(0)                = ?
105 1700000000.013100 +++ exited with 0 +++
104 1700000000.013200 +++ exited with 0 +++
101 1700000000.014000 unlinkat(AT_FDCWD, "/sys/fs/cgroup/pids/lab/box", AT_REMOVEDIR) = 0 <0.000100>
100 1700000000.015000 +++ exited with 0 +++
"""


def test_a_plain_call():
    ev = strace.parse('42 1700000000.500000 sethostname("box", 3) = 0 <0.000012>')[0]
    assert (ev.pid, ev.time, ev.name, ev.args, ev.result, ev.duration, ev.kind) == \
        (42, 1700000000.5, "sethostname", '"box", 3', "0", 0.000012, "call")
    assert ev.ok and ev.value == 0 and ev.errno is None


def test_a_failed_call_keeps_its_errno():
    ev = strace.parse('7 1.000001 openat(AT_FDCWD, "/nope", O_RDONLY) = -1 ENOENT (No such file or directory) <0.1>')[0]
    assert ev.errno == "ENOENT" and ev.value == -1 and not ev.ok
    assert ev.args == 'AT_FDCWD, "/nope", O_RDONLY'


def test_unfinished_and_resumed_make_one_event_at_the_first_half():
    events = strace.parse(RUNC_LIKE)
    mknod = [e for e in events if e.name == "mknodat"][0]
    assert mknod.args == 'AT_FDCWD, "/run/rt/box/exec.fifo", S_IFIFO|0622'
    assert mknod.result == "0" and mknod.duration == 0.0002 and mknod.time == 1700000000.002
    # the futex that came between the halves stays after the mknodat, in the order the calls began
    names = [e.name for e in events]
    assert names.index("mknodat") < names.index("futex")
    assert not any("resumed" in e.name for e in events)


def test_a_resumed_line_whose_first_half_is_missing_stands_alone():
    ev = strace.parse("9 1.5 <... read resumed>\"x\", 10) = 1 <0.0001>")[0]
    assert (ev.name, ev.args, ev.result) == ("read", '"x", 10', "1")


def test_a_call_ended_by_the_threads_exit():
    ev = strace.parse("9 1.5 epoll_pwait(4,  <unfinished ...>\n9 1.6 <... epoll_pwait resumed> <unfinished ...>) = ?")
    assert len(ev) == 1 and ev[0].args == "4," and ev[0].result == "?"


def test_a_call_never_resumed_has_no_result():
    ev = strace.parse("9 1.5 wait4(-1,  <unfinished ...>")[0]
    assert ev.result is None and ev.value is None and not ev.ok


def test_signals_exits_and_kills():
    text = ("5 2.000000 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=6} ---\n"
            "6 2.100000 +++ exited with 3 +++\n"
            "7 2.200000 +++ killed by SIGKILL +++\n"
            "8 2.300000 +++ killed by SIGSEGV (core dumped) +++\n")
    sig, exited, killed, dumped = strace.parse(text)
    assert (sig.kind, sig.name, sig.args) == ("signal", "SIGCHLD", "{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=6}")
    assert (exited.kind, exited.pid, exited.result) == ("exit", 6, "3")
    assert (killed.kind, killed.name) == ("killed", "SIGKILL")
    assert dumped.args == "core dumped"


def test_exit_group_returns_question_mark():
    ev = strace.parse("3 1.0 exit_group(0)                = ?")[0]
    assert ev.result == "?" and ev.value is None


def test_result_found_after_a_string_holding_a_fake_result():
    ev = strace.parse('4 1.0 write(1, "a) = 5 <0.1>", 12) = 12 <0.000020>')[0]
    assert ev.args == '1, "a) = 5 <0.1>", 12' and ev.result == "12" and ev.duration == 0.00002


def test_time_of_day_and_stderr_forms():
    a, b = strace.parse('[pid  77] 12:00:01.250000 getpid() = 77\n'
                        '12:00:02.000000 close(3) = 0\n')
    assert (a.pid, a.time) == (77, 12 * 3600 + 1.25)
    assert b.pid == 77  # no PID column: the traced program itself
    assert strace.parse("hello from the program\nstrace: Process 5 attached\n") == []


def test_octal_and_hex_results():
    umask, mmap = strace.parse("1 1.0 umask(022) = 022 <0.1>\n1 1.1 mmap(NULL, 4096) = 0x7f00aa <0.1>")
    assert umask.value == 0o22 and mmap.value == 0x7f00aa


def test_fields_split_at_top_level_commas_only():
    assert strace.fields('"a, b", {x=1, y=[2, 3]}, MS_BIND|MS_REC, NULL') == ['"a, b"', "{x=1, y=[2, 3]}",
                                                                               "MS_BIND|MS_REC", "NULL"]
    assert strace.fields('"a \\" , b", 1') == ['"a \\" , b"', "1"]


def test_threads_processes_and_pid_namespace_translation():
    t = strace.Trace(strace.parse(RUNC_LIKE), "runc")
    assert t.threads_of()[101] == 100 and t.threads_of()[105] == 104  # the host's TID, not the container's "2"
    assert t.processes() == {100, 102, 103, 104}
    assert t.tasks() == {100, 101, 102, 103, 104, 105}


def test_kinds():
    t = strace.Trace(strace.parse(RUNC_LIKE))
    kinds = t.count_by_kind()
    assert kinds["namespaces and mounts"] == 15  # unshare, 11 mounts (a failed one too), pivot_root, umount2, sethostname
    assert kinds["privileges"] == 5  # seccomp probe, no_new_privs, capbset_drop, capset, PR_SET_SECCOMP
    assert strace.kind_of(strace.Event(1, 0, "prctl", 'PR_SET_NAME, "x"')) == "processes and threads"


def test_phases_found_in_order():
    t = strace.Trace(strace.parse(RUNC_LIKE))
    found = strace.phases(t, "box", "/b/rootfs", ["sh", "-c", 'echo "a) = 1"'])
    assert strace.missing(found) == []
    assert strace.order(found) == [
        "exec fifo made", "cgroup made and written", "namespaces", "rootfs bind mount", "/proc /dev /sys mounted",
        "device nodes", "pivot_root", "old root detached", "hostname", "read-only paths", "masked paths",
        "no_new_privs", "capabilities", "seccomp filter", "start: fifo opened", "execve of the command",
        "container exits", "cgroup removed"]
    assert strace.stage_order(found) == strace.STAGES and strace.stages_apart(found)
    assert len(found["masked paths"]) == 2  # the failed one (ENOENT) is not counted
    assert len(found["read-only paths"]) == 2  # bind + remount of /proc/sys; the root's remount is not a path
    assert len(found["cgroup made and written"]) == 2
    assert [e.name for e in found["container exits"]] == ["exit"] and found["container exits"][0].pid == 104
    roles = strace.made_by(t, found)
    assert roles["cgroup made and written"] == "runtime" and roles["namespaces"] == "a child between"
    assert roles["pivot_root"] == "container's init"


def test_start_is_timed_when_the_fifo_open_returns():
    # runc's run opens the fifo's reading end before its init has loaded seccomp; the open returns only
    # once the init opens the writing end, after the load: that return is when start happens.
    text = RUNC_LIKE.replace("101 1700000000.010400 openat(AT_FDCWD, \"/run/rt/box/exec.fifo\"",
                             "101 1700000000.010250 openat(AT_FDCWD, \"/run/rt/box/exec.fifo\"")
    found = strace.phases(strace.Trace(strace.parse(text)), "box", "/b/rootfs", ["sh", "-c", 'echo "a) = 1"'])
    assert found["start: fifo opened"][0].time < found["seccomp filter"][0].time
    firsts = strace.first(found)
    assert firsts["start: fifo opened"] == 1700000000.010250 + 0.0002 > firsts["seccomp filter"]
    assert strace.order(found).index("start: fifo opened") == strace.order(found).index("seccomp filter") + 1


def test_a_probe_is_not_a_load_and_a_missing_phase_is_reported():
    text = "\n".join(line for line in RUNC_LIKE.splitlines() if "PR_SET_SECCOMP" not in line)
    found = strace.phases(strace.Trace(strace.parse(text)), "box", "/b/rootfs", ["sh", "-c", 'echo "a) = 1"'])
    assert strace.missing(found) == ["seccomp filter"]


def test_argv_text():
    assert strace.argv_text(["sh", "-c", "echo hi"]) == '["sh", "-c", "echo hi"]'


def test_the_timeline_draws_a_row_per_runtime_and_numbers_every_phase():
    import matplotlib
    matplotlib.use("Agg")
    from labcore.teach.diagrams import syscall_timeline
    argv = ["sh", "-c", 'echo "a) = 1"']
    traces = {name: strace.Trace(strace.parse(RUNC_LIKE), name) for name in ("one", "two")}
    found = {name: strace.phases(t, "box", "/b/rootfs", argv) for name, t in traces.items()}
    fig = syscall_timeline(traces, found)
    whole, zoom = fig.axes
    assert [t.get_text().split("\n")[0] for t in whole.get_yticklabels()] == ["two", "one"]
    numbers = sorted(int(t.get_text()) for t in whole.texts)
    assert numbers == sorted(list(range(1, len(strace.PHASES) + 1)) * 2)
    assert "milliseconds" in whole.get_xlabel() and "rootfs bind mount" in zoom.get_xlabel()
    assert "strace" in " ".join(t.get_text() for t in fig.texts)  # the caveat is on the figure

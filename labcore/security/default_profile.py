"""The lab's default seccomp profile: an allow-list, in the JSON form Docker and OCI read.

Everything not named here fails with EPERM (``defaultAction``). The calls a
container's programs need every day are allowed by name, grouped below by
what they touch; the calls that reach *outside* the container are allowed
only to a process that holds the capability the kernel would ask for anyway
(``includes: {"caps": [...]}``), so that ``--cap-add SYS_TIME`` also opens
``settimeofday``. A few calls are allowed only for some arguments:

* ``clone`` without a namespace flag (unless CAP_SYS_ADMIN): a container
  that could unshare would reach the kernel's less-travelled code (user
  namespaces are a rich source of privilege escalations);
* ``clone3`` answers ENOSYS instead: its flags sit in a structure in memory,
  which a BPF filter cannot read, so libc falls back to ``clone``;
* ``socket`` for every family except AF_VSOCK (40: talk to the hypervisor)
  and AF_KCM (38: little used, a history of kernel bugs);
* ``personality`` for the few personas programs really use (Linux, and
  Linux with address-space randomization off, as ``setarch -R`` asks).

The facts (which call needs which capability) follow Docker's default
profile; a test (tests/unit/test_security_profile.py) compares the two for
this machine's architecture and Docker's 14 default capabilities and
reports every difference with its reason. The grouping and the words are
the lab's. Names this host's libseccomp does not know yet are kept: the
compiler skips them and says so, as runc does.
"""

from __future__ import annotations

# Calls every container may make, by topic. One string per topic; names separated by spaces.
EVERYDAY = {
    "files: open, read, write, seek, close": """
        open openat openat2 creat close close_range read write readv writev pread64 pwrite64 preadv
        preadv2 pwritev pwritev2 lseek _llseek sendfile sendfile64 copy_file_range splice tee vmsplice
        dup dup2 dup3 pipe pipe2 fcntl fcntl64 flock ioctl readahead fadvise64 fadvise64_64 fallocate
        fsync fdatasync sync syncfs sync_file_range truncate truncate64 ftruncate ftruncate64""",
    "files: names, directories, metadata": """
        stat stat64 lstat lstat64 fstat fstat64 fstatat64 newfstatat statx statfs statfs64 fstatfs
        fstatfs64 access faccessat faccessat2 getcwd chdir fchdir mkdir mkdirat rmdir rename renameat
        renameat2 link linkat symlink symlinkat unlink unlinkat readlink readlinkat mknod mknodat
        getdents getdents64 umask chmod fchmod fchmodat fchmodat2 chown chown32 fchown fchown32 fchownat
        lchown lchown32 utime utimes utimensat utimensat_time64 futimesat name_to_handle_at
        fanotify_mark statmount listmount""",
    "files: extended attributes": """
        getxattr lgetxattr fgetxattr getxattrat setxattr lsetxattr fsetxattr setxattrat listxattr
        llistxattr flistxattr listxattrat removexattr lremovexattr fremovexattr removexattrat""",
    "waiting for many descriptors, asynchronous I/O": """
        select _newselect pselect6 pselect6_time64 poll ppoll ppoll_time64 epoll_create epoll_create1
        epoll_ctl epoll_ctl_old epoll_wait epoll_wait_old epoll_pwait epoll_pwait2 eventfd eventfd2
        inotify_init inotify_init1 inotify_add_watch inotify_rm_watch io_setup io_destroy io_submit
        io_cancel io_getevents io_pgetevents io_pgetevents_time64""",
    "sockets (socket itself is below: not every family)": """
        socketpair bind connect listen accept accept4 getsockname getpeername getsockopt setsockopt
        send sendto sendmsg sendmmsg recv recvfrom recvmsg recvmmsg recvmmsg_time64 shutdown socketcall""",
    "memory": """
        brk mmap mmap2 munmap mremap mprotect madvise mincore msync mlock mlock2 mlockall munlock
        munlockall membarrier memfd_create memfd_secret pkey_alloc pkey_free pkey_mprotect cachestat
        map_shadow_stack remap_file_pages process_mrelease mseal""",
    "processes and threads": """
        fork vfork execve execveat exit exit_group wait4 waitid waitpid getpid getppid gettid
        set_tid_address set_robust_list get_robust_list rseq set_thread_area get_thread_area
        futex futex_time64 futex_waitv futex_wake futex_wait futex_requeue pidfd_open prctl
        getrandom uname sysinfo restart_syscall""",
    "signals": """
        kill tkill tgkill pidfd_send_signal rt_sigaction rt_sigprocmask rt_sigreturn rt_sigpending
        rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_sigqueueinfo rt_tgsigqueueinfo
        sigaltstack sigprocmask sigreturn signalfd signalfd4 pause alarm""",
    "clocks and timers (reading them; setting the clock needs CAP_SYS_TIME)": """
        time gettimeofday clock_gettime clock_gettime64 clock_getres clock_getres_time64 nanosleep
        clock_nanosleep clock_nanosleep_time64 getitimer setitimer timer_create timer_delete
        timer_settime timer_settime64 timer_gettime timer_gettime64 timer_getoverrun timerfd_create
        timerfd_settime timerfd_settime64 timerfd_gettime timerfd_gettime64 times adjtimex
        clock_adjtime clock_adjtime64""",
    "identity: uids, gids, capabilities, sessions (the kernel checks CAP_SETUID... itself)": """
        getuid getuid32 geteuid geteuid32 getgid getgid32 getegid getegid32 getresuid getresuid32
        getresgid getresgid32 getgroups getgroups32 setuid setuid32 setgid setgid32 setreuid setreuid32
        setregid setregid32 setresuid setresuid32 setresgid setresgid32 setfsuid setfsuid32 setfsgid
        setfsgid32 setgroups setgroups32 capget capset getsid setsid getpgid setpgid getpgrp""",
    "scheduling and limits": """
        sched_yield sched_getaffinity sched_setaffinity sched_getparam sched_setparam sched_getscheduler
        sched_setscheduler sched_getattr sched_setattr sched_get_priority_max sched_get_priority_min
        sched_rr_get_interval sched_rr_get_interval_time64 getpriority setpriority ioprio_get
        ioprio_set getrlimit ugetrlimit setrlimit prlimit64 getrusage getcpu""",
    "System V and POSIX IPC (private to the ipc namespace)": """
        ipc msgget msgsnd msgrcv msgctl semget semop semtimedop semtimedop_time64 semctl shmget shmat
        shmdt shmctl mq_open mq_unlink mq_timedsend mq_timedsend_time64 mq_timedreceive
        mq_timedreceive_time64 mq_notify mq_getsetattr""",
    "sandboxing oneself further (always safe: they only take powers away)": """
        seccomp landlock_create_ruleset landlock_add_rule landlock_restrict_self""",
    "probes and hardware queries that reveal nothing of other processes": """
        riscv_hwprobe uretprobe""",
}

# Calls that reach beyond the container: allowed only with the capability named.
BY_CAPABILITY = {
    "CAP_SYS_ADMIN": """
        mount umount umount2 mount_setattr move_mount open_tree fsopen fsconfig fsmount fspick
        unshare setns clone clone3 bpf fanotify_init lookup_dcookie perf_event_open quotactl
        quotactl_fd syslog sethostname setdomainname lsm_get_self_attr lsm_set_self_attr
        lsm_list_modules""",
    "CAP_SYS_PTRACE": "ptrace process_vm_readv process_vm_writev kcmp pidfd_getfd process_madvise",
    "CAP_SYS_TIME": "settimeofday stime clock_settime clock_settime64",
    "CAP_SYS_MODULE": "init_module finit_module delete_module",
    "CAP_SYS_BOOT": "reboot",
    "CAP_SYS_CHROOT": "chroot",
    "CAP_SYS_PACCT": "acct",
    "CAP_SYS_RAWIO": "iopl ioperm",
    "CAP_SYS_TTY_CONFIG": "vhangup",
    "CAP_SYS_NICE": "get_mempolicy set_mempolicy set_mempolicy_home_node mbind",
    "CAP_SYSLOG": "syslog",
    "CAP_BPF": "bpf",
    "CAP_PERFMON": "perf_event_open",
    "CAP_DAC_READ_SEARCH": "open_by_handle_at",
}

# Calls that exist only on some architectures (Go's names, as Docker's profile spells them).
BY_ARCHITECTURE = {
    ("amd64", "x32"): "arch_prctl",
    ("amd64", "x32", "x86"): "modify_ldt",
    ("arm", "arm64"): "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls",
    ("ppc64le",): "sync_file_range2 swapcontext",
    ("s390", "s390x"): "s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr",
    ("riscv64",): "riscv_flush_icache",
}

NAMESPACE_FLAGS = 0x7E020000  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET (flags.py's values)
AF_KCM, AF_VSOCK = 38, 40  # the kernel connection multiplexor (little used, a history of bugs); the hypervisor
PERSONAS = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)  # PER_LINUX, PER_LINUX32, ADDR_NO_RANDOMIZE (+32), "query"


def _allow(names: str, **extra) -> dict:
    return {"names": names.split(), "action": "SCMP_ACT_ALLOW", **extra}


def _arg(index: int, op: str, value: int) -> dict:
    return {"index": index, "value": value, "op": op}


def profile() -> dict:
    """The lab's default profile as a JSON-ready dict (what ``Profile.from_json`` reads)."""
    rules = [_allow(" ".join(EVERYDAY.values()))]
    # socket: every address family but AF_KCM and AF_VSOCK (conditions on one rule are ANDed, so one
    # rule per allowed range: below 38, 39 (AF_QIPCRTR), above 40)
    rules += [_allow("socket", args=[_arg(0, "SCMP_CMP_LT", AF_KCM)]),
              _allow("socket", args=[_arg(0, "SCMP_CMP_EQ", AF_KCM + 1)]),
              _allow("socket", args=[_arg(0, "SCMP_CMP_GT", AF_VSOCK)])]
    rules += [_allow("personality", args=[_arg(0, "SCMP_CMP_EQ", persona)]) for persona in PERSONAS]
    # clone: only without namespace flags, unless CAP_SYS_ADMIN (s390 swaps clone's first two arguments)
    rules.append(_allow("clone", args=[_arg(0, "SCMP_CMP_MASKED_EQ", NAMESPACE_FLAGS) | {"valueTwo": 0}],
                        excludes={"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}))
    rules.append(_allow("clone", args=[_arg(1, "SCMP_CMP_MASKED_EQ", NAMESPACE_FLAGS) | {"valueTwo": 0}],
                        includes={"arches": ["s390", "s390x"]}, excludes={"caps": ["CAP_SYS_ADMIN"]}))
    rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,  # ENOSYS: use clone
                  "excludes": {"caps": ["CAP_SYS_ADMIN"]}})
    # Tracing one's own processes: before Linux 4.8 a tracer could rewrite a call after seccomp had
    # checked it, so ptrace was a way around the filter; since 4.8 the filter runs again after the tracer.
    rules.append(_allow("ptrace process_vm_readv process_vm_writev", includes={"minKernel": "4.8"}))
    rules += [_allow(names, includes={"caps": [cap]}) for cap, names in BY_CAPABILITY.items()]
    rules += [_allow(names, includes={"arches": list(arches)}) for arches, names in BY_ARCHITECTURE.items()]
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,  # EPERM
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
                        {"architecture": "SCMP_ARCH_RISCV64", "subArchitectures": []},
                        {"architecture": "SCMP_ARCH_PPC64LE", "subArchitectures": []},
                        {"architecture": "SCMP_ARCH_S390X", "subArchitectures": ["SCMP_ARCH_S390"]}],
            "syscalls": rules}


__all__ = ["EVERYDAY", "BY_CAPABILITY", "BY_ARCHITECTURE", "profile"]

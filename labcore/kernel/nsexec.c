/*
 * nsexec: labcore's fast way into new namespaces, in the spirit of runc's nsexec.
 *
 * Forking a Python interpreter costs more than the namespaces themselves:
 * fork(2) copies the page tables of tens of MiB, and the child then runs
 * Python until it execs. So, for the common case (root, no user or time
 * namespace, no root filesystem), labcore/ns/helper.py starts this small
 * program instead, with posix_spawn(3) (a vfork: nothing is copied), and it does:
 *
 *   1. unshare(FLAGS): new namespaces for itself, and CLONE_NEWPID for its
 *      next child, exactly as unshare(1) does;
 *   2. clone(CLONE_PARENT): that child is PID 1 of the new pid namespace, and
 *      a child of the *Python process*, not of this helper, so Python waits
 *      for it with an ordinary waitpid(2); then the helper reports the PID
 *      and exits;
 *   3. in PID 1: make "/" private (or slave), mount a fresh /proc, set the
 *      hostname, wait at the gate until Python has recorded it with the
 *      tracker, then execvp(3) the command.
 *
 * Usage: nsexec [-t] FLAGS PROPAGATION MOUNT_PROC HOSTNAME COMMAND [ARG...]
 *   -t           descriptor 5 is a lab.trace() file: write one line per call
 *   FLAGS        CLONE_NEW* flags for unshare(2) (decimal or 0x...)
 *   PROPAGATION  mount(2) flags for "/" when FLAGS has CLONE_NEWNS
 *   MOUNT_PROC   1 to mount a fresh /proc
 *   HOSTNAME     the new hostname, or "" to keep it
 *
 * It speaks the spawn protocol of labcore/kernel/spawnproto.py, as the
 * Python road does. Descriptor 3 is the gate (one byte "g" means go; EOF
 * means Python died before recording us, so we exit), 4 carries reports:
 *   "pid N"              Pid(N): the host PID of PID 1, written by the helper
 *   "error ERRNO STAGE"  Error(errno, stage): a failed call; Python names it
 * and is closed by the successful execve(2): EOF means the command runs.
 *
 * Trace lines (tracing.py parses them): "PID\tCALL\tARGS\tRESULT\n", the
 * result "0", a number, or "-1 EPERM (Operation not permitted)", flags
 * spelled as labcore/kernel/flags.py's describe() spells them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { GATE = 3, REPORT = 4, TRACE = 5, FIRST_OTHER_FD = 6 };

/* The stages of an "error" report. They must agree with STAGES in
 * labcore/kernel/spawnproto.py, in the same order (tests/unit/test_spawnproto.py checks). */
enum stage { ARGUMENTS, SETNS, UNSHARE, MAPS, TIME, CLONE, FORK, PROPAGATION, ROOTFS, PROC, HOSTNAME, SETUP, EXEC, SECURITY };
/* SECURITY: a security policy (labcore/security) is applied on the Python road only (ns/child.py). */
static const char *const STAGES[] = {
    "arguments", "setns", "unshare", "maps", "time", "clone", "fork",
    "propagation", "rootfs", "proc", "hostname", "setup", "exec", "security",
};

static int tracing = 0; /* nsexec -t: descriptor TRACE is open */

static void fail(enum stage stage, int status)
{
    dprintf(REPORT, "error %d %s\n", errno, STAGES[stage]);
    _exit(status);
}

struct flag { unsigned long bit; const char *name; };

static const struct flag CLONE_FLAGS[] = {
    {CLONE_NEWTIME, "CLONE_NEWTIME"}, {CLONE_NEWNS, "CLONE_NEWNS"}, {CLONE_NEWCGROUP, "CLONE_NEWCGROUP"},
    {CLONE_NEWUTS, "CLONE_NEWUTS"}, {CLONE_NEWIPC, "CLONE_NEWIPC"}, {CLONE_NEWUSER, "CLONE_NEWUSER"},
    {CLONE_NEWPID, "CLONE_NEWPID"}, {CLONE_NEWNET, "CLONE_NEWNET"}, {0, NULL},
};
static const struct flag MS_FLAGS[] = {
    {MS_RDONLY, "MS_RDONLY"}, {MS_NOSUID, "MS_NOSUID"}, {MS_NODEV, "MS_NODEV"}, {MS_NOEXEC, "MS_NOEXEC"},
    {MS_REMOUNT, "MS_REMOUNT"}, {MS_BIND, "MS_BIND"}, {MS_MOVE, "MS_MOVE"}, {MS_REC, "MS_REC"},
    {MS_PRIVATE, "MS_PRIVATE"}, {MS_SLAVE, "MS_SLAVE"}, {MS_SHARED, "MS_SHARED"}, {0, NULL},
};

/* "CLONE_NEWNS|CLONE_NEWUTS", as flags.describe() spells a flag word. */
static const char *describe(unsigned long value, const struct flag *names, char *buf, size_t size)
{
    size_t used = 0;
    unsigned long known = 0;
    buf[0] = '\0';
    for (; names->name; names++) {
        known |= names->bit;
        if (value & names->bit)
            used += snprintf(buf + used, used < size ? size - used : 0, "%s%s", used ? "|" : "", names->name);
    }
    if (value & ~known)
        used += snprintf(buf + used, used < size ? size - used : 0, "%s%#lx", used ? "|" : "", value & ~known);
    if (!used)
        snprintf(buf, size, "0");
    return buf;
}

/* CLOCK_REALTIME in nanoseconds: when a call began, so the trace can sort the
 * helper's clone before PID 1's first calls (it is written after them). */
static long long now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One trace line for a call begun at `started` (0: just now) that returned
 * `result` (-1: failed with errno), in the format of labcore/kernel/tracing.py. */
static void trace_at(long long started, const char *call, const char *args, long result)
{
    if (!tracing)
        return;
    int saved = errno;
    if (!started)
        started = now();
    if (result == -1)
        dprintf(TRACE, "%d\t%lld\t%s\t%s\t-1 %s (%s)\n", getpid(), started, call, args,
                strerrorname_np(saved), strerror(saved));
    else
        dprintf(TRACE, "%d\t%lld\t%s\t%s\t%ld\n", getpid(), started, call, args, result);
    errno = saved;
}

static void trace(const char *call, const char *args, long result)
{
    trace_at(0, call, args, result);
}

static unsigned long number(const char *text)
{
    char *end;
    errno = 0;
    unsigned long value = strtoul(text, &end, 0);
    if (errno || *text == '\0' || *end != '\0') {
        errno = EINVAL;
        fail(ARGUMENTS, 2);
    }
    return value;
}

int main(int argc, char **argv)
{
    char args[512], spelled[256];
    if (argc > 1 && strcmp(argv[1], "-t") == 0) {
        tracing = fcntl(TRACE, F_SETFD, FD_CLOEXEC) == 0; /* the command must not inherit it */
        argv++;
        argc--;
    }
    if (argc < 6) {
        errno = EINVAL;
        fail(ARGUMENTS, 2);
    }
    unsigned long flags = number(argv[1]), propagation = number(argv[2]);
    int mount_proc = number(argv[3]) != 0;
    const char *hostname = argv[4];

    int result = unshare((int)flags);
    trace("unshare", describe(flags, CLONE_FLAGS, spelled, sizeof spelled), result);
    if (result < 0)
        fail(UNSHARE, 126);
    /* A raw clone without a new stack behaves like fork(); CLONE_PARENT gives
     * the child our parent, and SIGCHLD is the signal that parent is sent. */
    long long started = tracing ? now() : 0;
    pid_t pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
    if (pid != 0) /* the helper reports the call, once (PID 1 sees 0) */
        trace_at(started, "clone", "CLONE_PARENT|SIGCHLD", pid);
    if (pid < 0)
        fail(CLONE, 126);
    if (pid > 0) {
        dprintf(REPORT, "pid %d\n", pid);
        return 0;
    }

    /* PID 1 of the new namespaces. Its own mounts must not reach the host. */
    if (flags & CLONE_NEWNS) {
        snprintf(args, sizeof args, "NULL, \"/\", NULL, %s, NULL", describe(propagation, MS_FLAGS, spelled, sizeof spelled));
        result = mount(NULL, "/", NULL, propagation, NULL);
        trace("mount", args, result);
        if (result < 0)
            fail(PROPAGATION, 126);
    }
    if (mount_proc) {
        unsigned long proc_flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
        snprintf(args, sizeof args, "\"proc\", \"/proc\", \"proc\", %s, NULL",
                 describe(proc_flags, MS_FLAGS, spelled, sizeof spelled));
        result = mount("proc", "/proc", "proc", proc_flags, NULL);
        trace("mount", args, result);
        if (result < 0)
            fail(PROC, 126);
    }
    if (*hostname) {
        snprintf(args, sizeof args, "\"%s\", %zu", hostname, strlen(hostname));
        result = sethostname(hostname, strlen(hostname));
        trace("sethostname", args, result);
        if (result < 0)
            fail(HOSTNAME, 126);
    }
    /* The command inherits only 0, 1 and 2 (a Jupyter kernel has many more);
     * the gate, the reports and the trace are closed later or on execve. */
    if (syscall(SYS_close_range, FIRST_OTHER_FD, ~0U, 0) < 0)
        for (long fd = FIRST_OTHER_FD; fd < sysconf(_SC_OPEN_MAX); fd++)
            close(fd); /* kernels before 5.9 lack close_range(2) */
    if (!tracing)
        close(TRACE);
    if (fcntl(REPORT, F_SETFD, FD_CLOEXEC) < 0)
        fail(SETUP, 126);

    /* posix_spawn(3) leaves glibc's internal signals (32 and 33) ignored, and
     * an ignored signal stays ignored across execve(2): put them back to the
     * default, as fork+exec would have them. glibc's sigaction(2) wrapper
     * refuses these two, so we ask the kernel directly; all zeros is SIG_DFL
     * with no flags and an empty mask, in the kernel's layout too. */
    static const unsigned long dfl[4];
    for (int sig = 32; sig < SIGRTMIN; sig++) {
        snprintf(args, sizeof args, "%d, SIG_DFL", sig);
        trace("rt_sigaction", args, syscall(SYS_rt_sigaction, sig, dfl, NULL, 8));
    }

    char go;
    if (read(GATE, &go, 1) != 1 || go != 'g')
        _exit(1); /* the parent died before recording us: leave nothing behind */
    close(GATE);
    if (tracing) { /* as the Python side writes it: before the call, which never returns */
        size_t used = snprintf(args, sizeof args, "\"%s\", [", argv[5]);
        for (int i = 5; i < argc && used < sizeof args; i++)
            used += snprintf(args + used, sizeof args - used, "%s'%s'", i > 5 ? ", " : "", argv[i]);
        if (used < sizeof args)
            snprintf(args + used, sizeof args - used, "]");
        dprintf(TRACE, "%d\t%lld\texecve\t%s\tno return: the process becomes the program\n", getpid(), now(), args);
    }
    execvp(argv[5], argv + 5);
    trace("execve", args, -1);
    fail(EXEC, 127);
}

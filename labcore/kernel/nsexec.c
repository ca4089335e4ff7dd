/*
 * nsexec: labcore's fast way into new namespaces, in the spirit of runc's nsexec.
 *
 * Forking a Python interpreter costs more than the namespaces themselves:
 * fork(2) copies the page tables of tens of MiB, and the child then runs
 * Python until it execs. So, for the common case (root, no user or time
 * namespace, no root filesystem), labcore.process starts this small program
 * instead, with posix_spawn(3) (a vfork: nothing is copied), and it does:
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
 * Usage: nsexec FLAGS PROPAGATION MOUNT_PROC HOSTNAME COMMAND [ARG...]
 *   FLAGS        CLONE_NEW* flags for unshare(2) (decimal or 0x...)
 *   PROPAGATION  mount(2) flags for "/" when FLAGS has CLONE_NEWNS
 *   MOUNT_PROC   1 to mount a fresh /proc
 *   HOSTNAME     the new hostname, or "" to keep it
 * Descriptors: 3 is the gate (one byte "g" means go; EOF means Python died
 * before recording us, so we exit), 4 carries reports to Python:
 *   "pid N"              the host PID of PID 1, written by the helper
 *   "error ERRNO STAGE"  a failed call; Python names it and explains the fix
 * and is closed by the successful execve(2): EOF means the command runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { GATE = 3, REPORT = 4, FIRST_OTHER_FD = 5 };

static void fail(const char *stage, int status)
{
    dprintf(REPORT, "error %d %s\n", errno, stage);
    _exit(status);
}

static unsigned long number(const char *text)
{
    char *end;
    errno = 0;
    unsigned long value = strtoul(text, &end, 0);
    if (errno || *text == '\0' || *end != '\0') {
        errno = EINVAL;
        fail("arguments", 2);
    }
    return value;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        errno = EINVAL;
        fail("arguments", 2);
    }
    unsigned long flags = number(argv[1]), propagation = number(argv[2]);
    int mount_proc = number(argv[3]) != 0;
    const char *hostname = argv[4];

    if (unshare((int)flags) < 0)
        fail("unshare", 126);
    /* A raw clone without a new stack behaves like fork(); CLONE_PARENT gives
     * the child our parent, and SIGCHLD is the signal that parent is sent. */
    pid_t pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
    if (pid < 0)
        fail("clone", 126);
    if (pid > 0) {
        dprintf(REPORT, "pid %d\n", pid);
        return 0;
    }

    /* PID 1 of the new namespaces. Its own mounts must not reach the host. */
    if ((flags & CLONE_NEWNS) && mount(NULL, "/", NULL, propagation, NULL) < 0)
        fail("propagation", 126);
    if (mount_proc && mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        fail("proc", 126);
    if (*hostname && sethostname(hostname, strlen(hostname)) < 0)
        fail("hostname", 126);
    /* The command inherits only 0, 1 and 2 (a Jupyter kernel has many more). */
    if (syscall(SYS_close_range, FIRST_OTHER_FD, ~0U, 0) < 0)
        for (long fd = FIRST_OTHER_FD; fd < sysconf(_SC_OPEN_MAX); fd++)
            close(fd); /* kernels before 5.9 lack close_range(2) */
    if (fcntl(REPORT, F_SETFD, FD_CLOEXEC) < 0)
        fail("fcntl", 126);

    /* posix_spawn(3) leaves glibc's internal signals (32 and 33) ignored, and
     * an ignored signal stays ignored across execve(2): put them back to the
     * default, as fork+exec would have them. glibc's sigaction(2) wrapper
     * refuses these two, so we ask the kernel directly; all zeros is SIG_DFL
     * with no flags and an empty mask, in the kernel's layout too. */
    static const unsigned long dfl[4];
    for (int sig = 32; sig < SIGRTMIN; sig++)
        syscall(SYS_rt_sigaction, sig, dfl, NULL, 8);

    char go;
    if (read(GATE, &go, 1) != 1 || go != 'g')
        _exit(1); /* the parent died before recording us: leave nothing behind */
    close(GATE);
    execvp(argv[5], argv + 5);
    fail("exec", 127);
}

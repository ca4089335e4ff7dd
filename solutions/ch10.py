"""Chapter 10's solutions."""

CHMOD_CALLS = ["chmod", "fchmod", "fchmodat", "fchmodat2"]


def profile(names):
    return {"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": list(names), "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}


SOLUTIONS = {
    "what-fails": lambda ex: {"mount", "hostname", "unshare", "renice"},
    "deny-chmod": lambda ex: profile(CHMOD_CALLS),
}

WRONG = {
    "what-fails": lambda ex: [{"mount", "hostname", "unshare"}, {"mount", "su", "hostname", "unshare", "chroot",
                                                                  "renice"}, "mount", {"mount", "reboot"}],
    "deny-chmod": lambda ex: [
        profile(["chmod"]),                                  # chmod(1) calls fchmodat
        profile(["chmod", "fchmodat", "fchmodat2"]),         # a descriptor's fchmod stays open
        {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []},  # nothing works at all
        profile(CHMOD_CALLS) | {"syscalls": [{"names": CHMOD_CALLS, "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]},
        "chmod",
    ],
}

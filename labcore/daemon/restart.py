"""Restart policies: what the daemon does when a container's main process ends.

``docker run --restart POLICY`` asks the daemon (not the kernel, not the
runtime) to start the container again after its PID 1 has exited:

    no                 never (the default)
    on-failure[:N]     when the exit status is not 0; at most N times if N is given
    always             whatever the status
    unless-stopped     like always, except after the user stopped it

Only the daemon can do this: it is the one that learns the exit status
(from the shim's ``exit.json``) and can run the whole start again, with the
same writable layer, name and configuration. Two rules keep it sane:

* a container the user stopped or killed (``docker stop``, ``docker
  kill``) stays stopped: the policy is for failures, not for the operator;
* each restart waits longer than the last: 100 ms, then twice as long each
  time, up to a minute; a container that ran for 10 s or more starts the
  delay over. A container crashing in a loop therefore costs a few starts
  a minute, not hundreds a second. ``RestartCount`` in ``docker inspect``
  counts the restarts (``docker start`` by hand sets it back to 0).

When the daemon itself starts, it starts again the stopped containers the
policy names (``at_daemon_start``), as dockerd does at boot: with
``always`` even one the user stopped (that stop lasts until the daemon
restarts), with ``unless-stopped`` only one the user did not stop, with
``on-failure`` one whose last exit failed. A container that ended while no
daemon watched it (the daemon was down) is restarted this way too.

The decisions are pure (``parse``, ``decide``, ``at_daemon_start``),
unit-tested without a daemon; ``labcore.daemon.api`` acts on them.
"""

from __future__ import annotations

from ..errors import InvalidInputError

NAMES = ("no", "on-failure", "always", "unless-stopped")
FIRST_DELAY, MAX_DELAY, STEADY = 0.1, 60.0, 10.0  # seconds: first wait, longest wait, a run that resets it


def parse(policy) -> dict:
    """``HostConfig.RestartPolicy`` checked, in Docker's words -> ``{"Name", "MaximumRetryCount"}``."""
    if policy in (None, {}):
        return {"Name": "no", "MaximumRetryCount": 0}
    if not isinstance(policy, dict):
        raise InvalidInputError("invalid restart policy: not an object", 'send {"Name": "on-failure", "MaximumRetryCount": 3}')
    name = policy.get("Name") or "no"
    count = policy.get("MaximumRetryCount") or 0
    if name not in NAMES:
        raise InvalidInputError(f"invalid restart policy: unknown policy '{name}'; use one of "
                                "'no', 'always', 'on-failure', or 'unless-stopped'", "pick one of those four")
    if not isinstance(count, int) or count < 0:
        raise InvalidInputError("invalid restart policy: maximum retry count cannot be negative",
                                "give on-failure:N with N >= 0")
    if count and name != "on-failure":
        raise InvalidInputError("invalid restart policy: maximum retry count can only be used with 'on-failure'",
                                "write on-failure:N, or the policy alone")
    return {"Name": name, "MaximumRetryCount": count}


def decide(policy: dict, exit_code: int, restarts: int, stopped_by_user: bool) -> bool:
    """Start the container again after this exit? ``restarts``: how many times the policy did so already."""
    name = policy.get("Name", "no")
    if stopped_by_user or name == "no":
        return False
    if name == "on-failure":
        most = policy.get("MaximumRetryCount") or 0
        return exit_code != 0 and (most == 0 or restarts < most)
    return True  # always, unless-stopped (a stop by the user was handled above)


def at_daemon_start(policy: dict, exit_code: int, restarts: int, stopped_by_user: bool) -> bool:
    """Start this stopped container when the daemon starts? ``always`` overrides a stop by the user here."""
    if policy.get("Name") == "always":
        return True
    return decide(policy, exit_code, restarts, stopped_by_user)


def delay(previous: float, ran_for: float) -> float:
    """The wait before the next restart: doubled each time, from 100 ms, back to 100 ms after a steady run."""
    if previous <= 0 or ran_for >= STEADY:
        return FIRST_DELAY
    return min(previous * 2, MAX_DELAY)


__all__ = ["parse", "decide", "at_daemon_start", "delay", "NAMES", "FIRST_DELAY", "MAX_DELAY", "STEADY"]

"""User namespaces for containers: uid 0 inside, an ordinary uid outside.

A user namespace translates ids. ``/proc/PID/uid_map`` holds lines
``first-inside first-outside count``: ``0 1000 1`` makes uid 0 inside the
namespace uid 1000 outside. Capabilities held in a user namespace count
only for objects that namespace owns (its own mount, net, pid...
namespaces): a process that breaks out of the container meets the host as
uid 1000, with no power over anything else. See user_namespaces(7).

Who may write the map:

* **root** (CAP_SETUID in the parent namespace) writes any map directly,
  for example ``0 100000 65536``: 65536 ids for the container, none of them
  a host user's;
* **an ordinary user** may write one line mapping only *its own* uid (after
  writing ``deny`` to ``/proc/PID/setgroups``, so it cannot drop a group
  that was denying it access). One uid is little for an image whose files
  belong to several users;
* so the shadow-utils helpers **newuidmap/newgidmap** (setuid root, Debian
  package ``uidmap``) write wider maps for an ordinary user, but only ranges
  the administrator gave that user in ``/etc/subuid`` and ``/etc/subgid``
  (``alice:100000:65536``). That is how rootless Docker and Podman map
  65536 ids.
"""

from __future__ import annotations

import pwd
import shutil
import subprocess
from dataclasses import dataclass

from ..errors import LabError

SUBUID, SUBGID = "/etc/subuid", "/etc/subgid"


@dataclass(frozen=True)
class Range:
    """One subordinate-id range of /etc/subuid or /etc/subgid: ``count`` ids from ``start``."""

    start: int
    count: int


def subordinate_ranges(user: str | int, path: str = SUBUID) -> list[Range]:
    """The ranges ``path`` gives ``user`` (a name or a uid; lines may use either), in file order."""
    try:
        entry = pwd.getpwuid(user) if isinstance(user, int) else pwd.getpwnam(user)
        keys = {entry.pw_name, str(entry.pw_uid)}
    except KeyError:  # a user of another /etc (a dockerd's own, in its mount namespace): its lines name it
        keys = {str(user)}
    ranges = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in keys and parts[1].isdigit() and parts[2].isdigit():
            ranges.append(Range(int(parts[1]), int(parts[2])))
    return ranges


def rootless_map(own_id: int, ranges: list[Range]) -> list[tuple[int, int, int]]:
    """Rootless Docker's layout: 0 inside is one's own id, 1.. inside are the subordinate ids."""
    lines, inside = [(0, own_id, 1)], 1
    for r in ranges:
        lines.append((inside, r.start, r.count))
        inside += r.count
    return lines


def helpers() -> dict[str, str | None]:
    """Where newuidmap and newgidmap are (None: the uidmap package is missing)."""
    return {name: shutil.which(name) for name in ("newuidmap", "newgidmap")}


def map_with_helpers(pid: int, uid_lines, gid_lines) -> None:
    """Write process ``pid``'s maps through newuidmap/newgidmap (they check /etc/subuid and /etc/subgid)."""
    for tool, lines in (("newuidmap", uid_lines), ("newgidmap", gid_lines)):
        path = helpers()[tool]
        if path is None:
            raise LabError(f"{tool} is not installed", "apt install uidmap (provision/provision.sh does)")
        done = subprocess.run([path, str(pid), *(str(n) for line in lines for n in line)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise LabError(f"{tool} {pid} refused the map {lines}: {done.stderr.strip()}",
                           f"give the user a range in {SUBUID} and {SUBGID} (e.g. user:100000:65536)")


def helper_maps(uid: int, gid: int):
    """(uid lines, gid lines) for a rootless container of user ``uid``: its own ids as 0, then its
    subordinate ranges; None unless both files give it a range and newuidmap/newgidmap are installed."""
    try:
        uids, gids = subordinate_ranges(uid, SUBUID), subordinate_ranges(uid, SUBGID)
    except KeyError:  # a uid without a passwd entry has no name to look up
        return None
    if not uids or not gids or None in helpers().values():
        return None
    return rootless_map(uid, uids), rootless_map(gid, gids)


def read_map(pid: int | str = "self", which: str = "uid_map") -> list[tuple[int, int, int]]:
    """/proc/PID/uid_map (or gid_map) as (inside, outside, count) lines."""
    with open(f"/proc/{pid}/{which}") as f:
        return [tuple(int(n) for n in line.split()) for line in f if line.strip()]


def outside(uid_inside: int, lines) -> int | None:
    """The host uid that ``uid_inside`` is under these map lines (None: unmapped, seen as 65534)."""
    for first_in, first_out, count in lines:
        if first_in <= uid_inside < first_in + count:
            return first_out + uid_inside - first_in
    return None


__all__ = ["SUBUID", "SUBGID", "Range", "subordinate_ranges", "rootless_map", "helpers", "map_with_helpers", "helper_maps",
           "read_map", "outside"]

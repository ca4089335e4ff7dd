"""Every kernel object the lab creates is recorded on disk, then undone.

Containers are made of objects that outlive the code that made them: a
mount stays mounted, a cgroup directory stays, a process keeps running
after the notebook kernel that started it is killed. So before creating
anything, labcore writes a small JSON record of it under the state
directory (``/run/labcore``: a tmpfs, cleared at reboot exactly like the
objects it describes). When the object is undone, its record goes.
``labcore cleanup`` undoes whatever records remain after a crash.

Rules that keep this safe for the host:

* The record is written *before* the object exists, so a crash at any
  point leaves a record; undoing tolerates "already gone".
* A process is identified by its PID *and* its start time, so a recycled
  PID is never killed by mistake (a record without one is refused).
* Every undo first normalises and resolves its target (``..`` and symlinks
  on the way are refused), then checks that the object carries the lab's
  name (``lab-`` network namespaces, a ``labcore`` cgroup subtree, paths
  under the lab's own directories): cleanup cannot touch anything of the
  host's. A mount is undone only if the mount found there is the recorded one.
* "Already exists" is never rolled back: a creator that finds the object
  there already says ``rec.not_mine()``, and the record goes without undo.
* An undo that has to leave its object in place (``"kept: ..."``) keeps the
  record too: an object that exists always has its record.
* The state directory belongs to the user running the lab and nobody else
  can write to it (``check_private``); a malformed record file is reported
  and skipped, never guessed at.
* ``labcore cleanup`` spares the objects of a process that is still alive
  (its PID and start time, as for processes) unless told ``force``.

Each kind of object is undone by the module that creates it (a mount by
``labcore.fs.mounts``, a cgroup by ``labcore.cgroups.base``...), which
registers its undo with ``@tracker.undoes(kind, order)``; ``KINDS`` names
that module, so cleanup after a crash can load it. ``order`` sets who goes
first: processes (they hold everything else busy), mounts, namespaces,
cgroups, then files.

Creating an object, rolling it back if the creation fails half-way::

    with tracker.default().created("mount", target) as rec:
        kernel.default().mount(...)  # on error: undone, record dropped
    ...
    tracker.default().undo(rec)    # later, when done with it
"""

from __future__ import annotations

from ..proc.stat import is_running, process_start_time  # here too: notebooks use lab.tracker.is_running
from .records import Record, parse_record
from .registry import KEPT, KINDS, STAMP, UNDO, Undo, refuse, stamps, undo_for, undoes
from .paths import (CGROUP_NAME, DATA_DIR, PREFIX, cache_dir, check_private, data_dir, default_data_dir, is_lab_path,
                    lab_dirs, lab_path, mounts_under, resolve, state_dir, user_state_dir)
from .store import Held, Outcome, Tracker, default, owner_alive

__all__ = ["Tracker", "Record", "Outcome", "Held", "Undo", "UNDO", "STAMP", "KINDS", "KEPT", "default", "state_dir",
           "user_state_dir", "check_private", "parse_record", "owner_alive", "undoes", "stamps", "undo_for", "refuse",
           "is_lab_path", "lab_path", "lab_dirs", "resolve", "process_start_time", "is_running", "mounts_under",
           "data_dir", "default_data_dir", "DATA_DIR", "PREFIX", "CGROUP_NAME"]

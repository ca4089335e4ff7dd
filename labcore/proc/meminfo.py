"""/proc/meminfo: the memory a kernel manages, field by field. See proc(5).

``MemTotal`` is the RAM the kernel manages (a little less than installed),
``MemAvailable`` its estimate of what programs could still get without
swapping, ``SwapTotal`` the swap space (0: no swap). Values are in kB
(kibibytes), a few fields are plain counts. A container reads the *host's*
file (there is no memory namespace); a VM's guest reads its own kernel's:
chapter 02 compares the two.
"""

from __future__ import annotations

from pathlib import Path

MEMINFO = "/proc/meminfo"


def parse(text: str) -> dict[str, int]:
    """The text of a meminfo file as bytes per field (counts stay counts). Used by notebook 02."""
    out = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            out[name.strip()] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return out


def read(path: str = MEMINFO) -> dict[str, int]:
    """This kernel's /proc/meminfo (or the file at ``path``), in bytes."""
    return parse(Path(path).read_text())


__all__ = ["parse", "read", "MEMINFO"]

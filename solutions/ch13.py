"""Chapter 13's solutions."""

import os


def _lookup(path, name):
    """The fields of the line of /etc/passwd or /etc/group (in the image) whose first field is ``name``."""
    with open(path) as f:
        for line in f:
            fields = line.rstrip("\n").split(":")
            if fields and fields[0] == name:
                return fields
    return None


def to_process(image_config, rootfs):
    """config.json's process from an image config, as the image spec's conversion.md says."""
    args = list(image_config.get("Entrypoint") or []) + list(image_config.get("Cmd") or [])
    process = {"args": args, "env": list(image_config.get("Env") or []),
               "cwd": image_config.get("WorkingDir") or "/"}
    user, _, group = (image_config.get("User") or "0").partition(":")
    passwd, groups = os.path.join(rootfs, "etc/passwd"), os.path.join(rootfs, "etc/group")
    entry = None if user.isdigit() else _lookup(passwd, user)
    if not user.isdigit() and entry is None:
        raise ValueError(f"user {user!r} is not in the image's /etc/passwd")
    uid = int(user) if user.isdigit() else int(entry[2])
    if group:
        gid = int(group) if group.isdigit() else int(_lookup(groups, group)[2])
    elif entry is not None:
        gid = int(entry[3])
    else:
        found = next((line.split(":") for line in open(passwd) if line.split(":")[2:3] == [str(uid)]), None)
        gid = int(found[3]) if found else 0
    process["user"] = {"uid": uid, "gid": gid}
    if entry is not None and not group:  # a name without a group: its supplementary groups, from the image
        extra = []
        with open(groups) as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) == 4 and user in fields[3].split(",") and int(fields[2]) != gid:
                    extra.append(int(fields[2]))
        process["user"]["additionalGids"] = extra
    return process


def _cmd_only(image_config, rootfs):
    """Forgets the Entrypoint when a Cmd exists."""
    p = to_process(image_config, rootfs)
    p["args"] = list(image_config.get("Cmd") or image_config.get("Entrypoint") or [])
    return p


def _hosts_passwd(image_config, rootfs):
    """Looks the user up on the host (where there is no 'app')."""
    return to_process(image_config, "/")


def _no_groups(image_config, rootfs):
    """Forgets the supplementary groups."""
    p = to_process(image_config, rootfs)
    p["user"].pop("additionalGids", None)
    return p


def _no_workdir(image_config, rootfs):
    p = to_process(image_config, rootfs)
    p["cwd"] = "/"
    return p


def _name_as_uid(image_config, rootfs):
    """Passes the name through, as a string: the runtime refuses it."""
    p = to_process(image_config, rootfs)
    p["user"]["uid"] = (image_config.get("User") or "0").split(":")[0]
    return p


SOLUTIONS = {
    "entrypoint-cmd": lambda ex: "from-entrypoint from-cmd",
    "image-to-process": lambda ex: to_process,
}

WRONG = {
    "entrypoint-cmd": lambda ex: ["from-entrypoint", "from-cmd", "echo from-entrypoint from-cmd"],
    "image-to-process": lambda ex: [_cmd_only, _hosts_passwd, _no_groups, _no_workdir, _name_as_uid],
}

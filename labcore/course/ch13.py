"""Chapter 13, the OCI specifications: its quiz and exercises."""

from __future__ import annotations

import json
import secrets
import subprocess

from ..teach.exercise import Exercise
from ..teach.quiz import Choice, Quiz, Recall

QUIZ = Quiz("13", "The OCI specifications", [
    Choice("diff-id", "A layer is stored gzip-compressed. Which hash does the image config's `rootfs.diff_ids` hold?",
           right="the sha256 of the uncompressed tar, whatever compression the blob got",
           wrong=["the sha256 of the compressed blob, the same value as in the manifest",
                  "the sha256 of the layer's files, hashed one by one and sorted by path"],
           why="Section 1 hashed the blob (its digest) and the gunzipped stream (its diff_id): two values; a "
               "recompressed layer keeps its diff_id and gets a new digest."),
    Choice("descriptor", "What does an OCI descriptor (in index.json, or a manifest's `config` and `layers`) "
                         "carry at the least?",
           right="a media type, the digest of the bytes it points to, and their size",
           wrong=["a tag, the registry's address, and the date on which the blob was pushed",
                  "a file path under blobs/, a media type, and the compression level"],
           why="Section 1 printed each descriptor; the size lets a reader refuse an oversized blob before "
               "hashing it."),
    Choice("index-platform", "An image index lists a linux/amd64 and a linux/arm64 manifest. Who picks one?",
           right="the client that pulls or unpacks it, by matching the platform fields to its machine",
           wrong=["the registry, from the user agent string that the client sends with each of its requests",
                  "the runtime, by reading the architecture annotation in config.json when it creates"],
           why="Section 1 added an arm64 entry to an index and the layout reader still chose the amd64 manifest."),
    Choice("who-verifies", "One bit of a layer blob in an OCI layout is flipped; index, manifest and config are "
                           "intact. Which of these notices?",
           right="`skopeo copy` of the image, which hashes each blob as it reads it",
           wrong=["`skopeo inspect` of the image, which prints the manifest's digest and its layers",
                  "nothing until the container runs, when the kernel reads the unpacked files"],
           why="Section 1: inspect printed the same manifest digest for both layouts; copy stopped with "
               "\"Digest did not match\"."),
    Choice("args", "An image config has Entrypoint [\"nginx\", \"-g\", \"daemon off;\"] and Cmd [\"-c\", "
                   "\"/etc/nginx.conf\"]. What is config.json's process.args after conversion?",
           right="the Entrypoint followed by the Cmd: all five strings, in that order",
           wrong=["only the Entrypoint: Cmd is used when the image has no Entrypoint",
                  "only the Cmd, passed to the Entrypoint as one shell string by sh -c"],
           why="The conversion document appends Cmd to Entrypoint; section 2 ran umoci's conversion and saw it."),
    Choice("runtimetest", "How does the OCI validation suite check that a runtime applied a hostname or a sysctl?",
           right="its runtimetest runs as the container's process and compares config.json with what it sees",
           wrong=["it reads the runtime's state directory and compares the stored config with its own copy",
                  "it traces the runtime's system calls and looks for sethostname and a write under /proc/sys"],
           why="Section 6: the bundle is the root filesystem, so runtimetest finds /config.json and reports TAP "
               "through create's stdout."),
    Choice("cgroup-mount", "`runc spec` mounts /sys/fs/cgroup with `\"type\": \"cgroup\"`. What does runc make "
                           "of it on a cgroup v1 host?",
           right="a tmpfs with the container's own directory of each hierarchy bound in, read-only",
           wrong=["a fresh cgroup v1 mount of every controller, which shows the host's whole cgroup tree",
                  "nothing at all: the entry is advice that a runtime may follow or may ignore"],
           why="Section 3 ran it: runc interprets the type for the machine (on cgroup v2, one cgroup2 mount); "
               "it is not a plain mount."),
    Recall("three-specs", "An interviewer asks: \"What does OCI standardise, and why does it matter?\"",
           model="Three documents. The image spec: an image is an index or manifest naming a config and layer "
                 "tars by media type, digest and size, plus the layout on disk and the conversion of the config "
                 "into a runtime config. The distribution spec: the registry HTTP API to push and pull those "
                 "blobs and manifests by digest and tag. The runtime spec: a bundle (config.json + rootfs), the "
                 "state JSON and the operations create, start, state, kill, delete. Any builder, registry and "
                 "runtime that follow them interoperate: Docker, containerd, CRI-O, Podman build, move and run "
                 "the same images, and runc can be swapped for crun, youki or gVisor.",
           demo="sections 1 to 5"),
    Recall("image-to-process", "Explain how `docker run IMAGE` turns the image's config into the container's first "
                               "process.",
           model="The image config's Entrypoint and Cmd are joined (Cmd appended; a command given on the command "
                 "line replaces Cmd) into process.args; Env becomes process.env (the engine may add HOSTNAME, "
                 "HOME...); WorkingDir becomes process.cwd; User is resolved to numeric uid and gid through the "
                 "image's own /etc/passwd and /etc/group, with the supplementary groups; Labels become "
                 "annotations. The layers are unpacked into the root filesystem. The runtime then execs "
                 "process.args[0], found through the PATH of process.env, inside the new namespaces.",
           demo="section 2 and the build exercise"),
])


# --- exercises ------------------------------------------------------------------------------
REPORT = ('echo "args=$*"\necho "cwd=$(pwd)"\necho "ids=$(id -u) $(id -g) groups $(id -G)"\n'
          'echo "greeting=$GREETING"\n')
PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/srv:/bin/sh\n"
GROUP = "root:x:0:\napp:x:1000:\nstaff:x:50:app\n"


def _image(work, name: str, runtime: dict):
    """A two-layer image in an OCI layout: busybox with users, and /report.sh; ``runtime`` is its config."""
    from ..fs.layers import make_layer
    from ..images import busybox_rootfs
    from ..images.layout import Layout
    base = busybox_rootfs(work / f"{name}-base", applets=["sh", "echo", "id", "pwd"])
    (base / "etc" / "passwd").write_text(PASSWD)
    (base / "etc" / "group").write_text(GROUP)
    (base / "srv").mkdir()
    app = work / f"{name}-app"
    app.mkdir()
    (app / "report.sh").write_text(REPORT)
    layout = Layout.create(work / f"{name}-layout")
    layers = [make_layer(d, layout.blobs, owner=(0, 0), mtime=0) for d in (base, app)]
    return layout.add_image(layers, "v1", runtime=runtime)


class EntrypointCmd(Exercise):
    id = "entrypoint-cmd"
    chapter = "13"
    kind = "predict"
    title = "predict what a container of an image with both Entrypoint and Cmd prints"
    task = """An image's config holds "Entrypoint": ["echo", "from-entrypoint"] and "Cmd": ["from-cmd"].
Before section 2, predict what its container prints when the image is unpacked into a bundle by umoci
(an independent converter, following the image spec's conversion rules) and the bundle is run by runc.
Write the line it prints. The checker builds that image, converts it and runs it."""
    hint = "one of the two fields names the program; ask what the other becomes"

    def verify(self, answer):
        from ..fs.scratch import Scratch
        from ..teach import runtimes
        if answer is None or not str(answer).strip():
            return "write the line the container prints, as text"
        work = Scratch("ch13-predict")
        try:
            _image(work, "p", {"Entrypoint": ["echo", "from-entrypoint"], "Cmd": ["from-cmd"], "Env": ["PATH=/bin"]})
            subprocess.run(["umoci", "unpack", "--image", f"{work / 'p-layout'}:v1", str(work / "bundle")],
                           check=True, capture_output=True, timeout=120)
            runtimes.edit(work / "bundle", lambda c: c["process"].update(terminal=False))
            rt = runtimes.available(work / "roots")["runc"]
            try:
                status, out = rt.run(f"lab-ex13-{secrets.token_hex(3)}", work / "bundle")
            finally:
                rt.close()
        finally:
            work.remove()
        truth = out.strip()
        said = " ".join(str(answer).split())
        if status == 0 and said == truth:
            return None
        if said == "from-entrypoint":
            return "the Cmd is not lost when an Entrypoint exists: where does the conversion put it?"
        if said == "from-cmd":
            return "a Cmd replaces nothing in the image config (only a command typed at `docker run` replaces the Cmd)"
        if "echo" in said.split():
            return "echo is the program that runs, so it does not print its own name"
        return f"{said!r} is not what the container printed"


class ImageToProcess(Exercise):
    id = "image-to-process"
    chapter = "13"
    kind = "build"
    title = "convert an image config into config.json's process section"
    task = """Write `to_process(image_config, rootfs)`: `image_config` is the `config` object of an OCI image
config (Entrypoint, Cmd, Env, WorkingDir, User, each possibly absent), `rootfs` the path of the image's
unpacked root filesystem. Return the `process` object of config.json that the image spec's conversion
document asks for: `args`, `env`, `cwd` (`/` when WorkingDir is absent), and `user` with numeric `uid` and `gid` (a bare
uid, named or numeric, takes its primary group from the image's /etc/passwd, or 0 if it has no entry; add
`additionalGids` when User names a user without a group). The checker builds images whose configs are in
this exercise object's `configs`,
puts your process into a default config.json, runs each with labcore's runtime and reads, from inside,
the arguments, the directory, the ids and the environment the container really got."""
    hint = "four fields, four rules; a user name means nothing to the kernel until it is looked up, and "\
           "the lookup must happen in the image's files"
    configs = [
        {"Entrypoint": ["sh", "/report.sh"], "Cmd": ["a", "b"], "Env": ["PATH=/bin", "GREETING=hi"],
         "WorkingDir": "/srv", "User": "app"},
        {"Cmd": ["sh", "/report.sh", "only-cmd"], "Env": ["PATH=/bin", "GREETING=numeric"], "User": "1000:50"},
        {"Entrypoint": ["sh", "/report.sh", "no", "cmd"], "Env": ["PATH=/bin"], "WorkingDir": "/srv", "User": "0"},
    ]
    expected = [
        ["args=a b", "cwd=/srv", "ids=1000 1000 groups 1000 50", "greeting=hi"],
        ["args=only-cmd", "cwd=/", "ids=1000 50 groups 50", "greeting=numeric"],
        ["args=no cmd", "cwd=/srv", "ids=0 0 groups 0", "greeting="],
    ]

    def setup(self):
        from ..fs.scratch import Scratch
        from ..images import unpack
        from ..teach import runtimes
        self.work = Scratch("ch13-build")
        self.rt = runtimes.available(self.work / "roots")["labcore"]
        self.images = []
        for i, cfg in enumerate(self.configs):
            image = _image(self.work, f"i{i}", cfg)
            unpack(image, self.work / f"b{i}" / "rootfs")
            self.images.append(image)

    def verify(self, answer):
        from ..errors import LabError
        from ..runtime import spec
        from ..teach import runtimes
        if not callable(answer):
            return "pass your function itself (to_process, without parentheses)"
        for i, image in enumerate(self.images):
            bundle = self.work / f"b{i}"
            try:
                process = answer(json.loads(json.dumps(image.runtime)), str(bundle / "rootfs"))
            except NotImplementedError:
                return "to_process() is not written yet: replace the raise with your code"
            except Exception as exc:  # the learner's code: say what it raised, on which image
                return f"to_process() raised {type(exc).__name__}: {exc} for the config {self.configs[i]}"
            if not isinstance(process, dict):
                return f"to_process() returned {type(process).__name__}: return a dict (config.json's process)"
            cfg = spec.default()
            cfg["process"].update(json.loads(json.dumps(process)))
            runtimes.write_config(bundle, cfg)
            try:
                status, out = self.rt.run(f"lab-ex13-{secrets.token_hex(3)}", bundle)
            except LabError as exc:
                return f"the runtime could not run it: {str(exc)[:300]}"
            lines = out.strip().splitlines()
            if status != 0 or len(lines) != 4:
                tail = out.strip()[-300:]
                return f"the container for {self.configs[i]} did not run the report (exit {status}): {tail}"
            got = dict(zip(("args", "cwd", "ids", "env"), lines))
            want = dict(zip(("args", "cwd", "ids", "env"), self.expected[i]))
            for key, rule in (("args", "Entrypoint and Cmd"), ("cwd", "WorkingDir (and where a process starts "
                              "when it is absent)"), ("env", "Env"), ("ids", "User")):
                if got[key] != want[key]:
                    if key == "ids" and got[key].split()[:2] == want[key].split()[:2]:
                        return (f"for User {self.configs[i].get('User')!r} the ids are right but the groups are "
                                f"{got[key].split('groups ')[-1]!r}: which groups does the image's /etc/group "
                                "give that user?")
                    return f"for the config {self.configs[i]}, the container saw {got[key]!r}: check the rule for {rule}"
        return None

    def close(self):
        try:
            self.rt.close()
        finally:
            self.work.remove()


EXERCISES = [EntrypointCmd, ImageToProcess]


__all__ = ["QUIZ", "EXERCISES"]

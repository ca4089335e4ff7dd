"""libnftables, the library behind the ``nft`` command, called through ctypes.

nftables rules live in the kernel and are changed over netlink. The
``nft`` command is a thin front end to ``libnftables``, which parses a
ruleset (in nft's own language, or in JSON), turns it into netlink
messages and prints the kernel's answer. Its C API is small (see
libnftables(3) and libnftables-json(5))::

    ctx = nft_ctx_new(NFT_CTX_DEFAULT)
    nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE | NFT_CTX_OUTPUT_ECHO)
    nft_ctx_buffer_output(ctx); nft_ctx_buffer_error(ctx)    # answers into memory, not stdout
    nft_run_cmd_from_buffer(ctx, "...")                      # 0 on success
    nft_ctx_get_output_buffer(ctx), nft_ctx_get_error_buffer(ctx)
    nft_ctx_free(ctx)

Debian ships the same binding in Python as ``python3-nftables``; this one
is the few lines labcore needs, so the lab's virtualenv depends on the C
library only (package ``libnftables1``, pulled in by ``nftables``).
The netlink socket is opened in the calling thread's network namespace.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json

NFT_CTX_DEFAULT = 0
NFT_CTX_OUTPUT_HANDLE = 1 << 3
NFT_CTX_OUTPUT_JSON = 1 << 4
NFT_CTX_OUTPUT_ECHO = 1 << 5

_lib = None


def _library():
    global _lib
    if _lib is None:
        name = ctypes.util.find_library("nftables") or "libnftables.so.1"
        try:
            lib = ctypes.CDLL(name, use_errno=True)
        except OSError as exc:
            raise OSError(f"cannot load libnftables ({name}): {exc}; install the nftables package") from exc
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
        for fn in (lib.nft_ctx_buffer_output, lib.nft_ctx_buffer_error):
            fn.argtypes = [ctypes.c_void_p]
            fn.restype = ctypes.c_int
        for fn in (lib.nft_ctx_get_output_buffer, lib.nft_ctx_get_error_buffer):
            fn.argtypes = [ctypes.c_void_p]
            fn.restype = ctypes.c_char_p
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
        _lib = lib
    return _lib


def available() -> bool:
    """Can libnftables be loaded here?"""
    try:
        _library()
        return True
    except OSError:
        return False


def _command(command: str, flags: int, what: str) -> str:
    """One libnftables context for one request: its output as text, or OSError with nft's own message."""
    lib = _library()
    ctx = lib.nft_ctx_new(NFT_CTX_DEFAULT)
    if not ctx:
        raise OSError("nft_ctx_new failed")
    try:
        lib.nft_ctx_output_set_flags(ctx, flags)
        lib.nft_ctx_buffer_output(ctx)
        lib.nft_ctx_buffer_error(ctx)
        rc = lib.nft_run_cmd_from_buffer(ctx, command.encode())
        out = (lib.nft_ctx_get_output_buffer(ctx) or b"").decode()
        err = (lib.nft_ctx_get_error_buffer(ctx) or b"").decode()
    finally:
        lib.nft_ctx_free(ctx)
    if rc != 0:
        raise OSError(f"nft refused {what}: {err.strip() or 'no message'}")
    return out


def run(commands: dict | str, echo: bool = True) -> dict:
    """Run one libnftables request (a JSON object ``{"nftables": [...]}``, or nft text) and return the answer.

    The answer is ``{"nftables": [...]}``: every JSON object nft printed
    (with echo on, what was added comes back with its handle). A refused request raises ``OSError`` carrying nft's own message.
    """
    # Echo gives back what a change added, with its handle; a listing must not be echoed.
    flags = NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE | (NFT_CTX_OUTPUT_ECHO if echo else 0)
    out = _command(commands if isinstance(commands, str) else json.dumps(commands), flags, "the request")
    # With echo on, each command may answer with its own JSON document, one a line: merge them.
    answer: list = []
    for line in out.splitlines():
        if line.strip():
            answer.extend(json.loads(line).get("nftables", []))
    return {"nftables": answer}


def text(command: str) -> str:
    """nft's answer to ``command`` in its own language (``nft list table ip x``), for people to read."""
    return _command(command, 0, repr(command))


__all__ = ["run", "text", "available"]

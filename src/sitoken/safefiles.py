"""Files sitoken writes, and secret files it reads: atomic, never through a link, never over an input.

Every file sitoken produces goes through here:

- ``write_file``: an output (signature, request, certificate, exported key). Written to a
  fresh temporary file in the same directory, synced, then renamed into place, so a reader
  sees the old file or the whole new one. Refused: a symbolic link, a directory, socket or
  block device at the name; the same file (device and inode, whatever the name) as one of the
  inputs; an existing file without ``force``. A character device or named pipe (``/dev/null``,
  a FIFO a program reads) is written in place.
- ``create_exclusive``: a file that must be new (generated PINs, revocation requests, CA keys):
  published with ``link()``, which fails on any existing name, a planted link included.
- ``private_directory``: a directory for secrets must be the user's and closed to others.
- ``private_file``: the journal and audit log: created 0600, never through a link.
- ``read_secret``: a PIN file, refused when others may read or write it (as OpenSSH refuses
  an unprotected key), read into a buffer the caller wipes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from .errors import InvalidInput, OutputExists, UnsafeFile

__all__ = [
    "check_output", "create_exclusive", "create_request", "private_directory", "private_file", "read_secret",
    "refuse_link", "same_file", "write_file",
]

StrPath = str | os.PathLike[str]

# Beyond this a "PIN file" is something else (a key, a log): refused rather than read whole.
MAX_SECRET_BYTES = 4096
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InvalidInput(f"cannot examine {path}: {exc.strerror}") from None


def _is_stream(st: os.stat_result) -> bool:
    """/dev/null, a terminal, a named pipe: written in place, since there is no file to replace."""
    return stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)


def _refuse_link_or_special(path: Path, st: os.stat_result) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeFile(f"{path} is a symbolic link: sitoken never writes through a link; remove it or "
                         "name the real file")
    if not stat.S_ISREG(st.st_mode) and not _is_stream(st):
        raise UnsafeFile(f"{path} exists and is not a regular file (use - for standard output)")


def same_file(a: os.stat_result, b: os.stat_result) -> bool:
    """One file under two names (hard link, symlink, ``./x`` and ``x``): same device and inode."""
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _refuse_input(path: Path, target: os.stat_result, inputs: Iterable[StrPath]) -> None:
    for source in inputs:
        if str(source) == "-":
            continue
        try:
            st = os.stat(source)
        except OSError:
            continue
        if same_file(st, target):
            raise UnsafeFile(f"{path} is the input {source}: sitoken never overwrites its input "
                             "(even with --force); write to another file")


def _sync_directory(directory: Path) -> None:
    # The rename is durable only once the directory is synced; some file systems cannot.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_FRESH_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _open_fresh(directory: Path, name: str) -> tuple[int, str]:
    """A new file ``.NAME.RANDOM.tmp`` in ``directory``, opened O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600:
    nobody else's file, no link. (What tempfile.mkstemp does; tempfile's import, which pulls in
    shutil, random and the compression modules, cost a fast ``sitoken sign`` about 5 ms.)"""
    for _ in range(100):
        candidate = os.path.join(directory, f".{name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(candidate, _FRESH_FLAGS, 0o600), candidate
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name")


def _temporary(path: Path, data: bytes | bytearray, mode: int) -> Path:
    """``data`` in a new file next to ``path`` (random name, O_EXCL|O_NOFOLLOW), synced."""
    directory = path.parent
    try:
        fd, name = _open_fresh(directory, path.name)
    except OSError as exc:
        raise InvalidInput(f"cannot write in {directory}: {exc.strerror}") from None
    try:
        if mode != 0o600:
            os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        os.unlink(name)
        raise InvalidInput(f"cannot write {path}: {exc.strerror}") from None
    os.close(fd)
    return Path(name)


def _public_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _link_new(tmp: Path, path: Path) -> None:
    """Publish ``tmp`` as ``path`` only if the name is free: link() never follows or replaces."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        st = _lstat(path)
        if st is not None and stat.S_ISLNK(st.st_mode):
            raise UnsafeFile(f"{path} is a symbolic link: sitoken never writes through a link") from None
        raise OutputExists(f"{path} already exists: it is left as it is") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV):
            raise InvalidInput(f"cannot create {path}: {exc.strerror}") from None
        _claim_then_replace(tmp, path)
        return
    tmp.unlink()


def _claim_then_replace(tmp: Path, path: Path) -> None:
    # File systems without hard links: claim the name exclusively, then move the content in.
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600))
    except FileExistsError:
        raise OutputExists(f"{path} already exists: it is left as it is") from None
    os.replace(tmp, path)


def check_output(path: StrPath, *, force: bool = False, inputs: Iterable[StrPath] = ()) -> os.stat_result | None:
    """The refusals of :func:`write_file`, before any work is done (a PIN try, a signature)."""
    target = Path(path)
    existing = _lstat(target)
    if existing is not None:
        _refuse_link_or_special(target, existing)
        _refuse_input(target, existing, inputs)
        if _is_stream(existing):
            return existing
        if not force:
            raise OutputExists(f"{target} exists: pass --force to replace it")
    return existing


def write_file(path: StrPath, data: bytes | bytearray, *, force: bool = False, inputs: Iterable[StrPath] = (),
               private: bool = False) -> Path:
    """Write an output atomically; ``private`` makes it 0600, else it gets the umask's mode.

    Refused with the reason, and nothing changed: a link or a non-regular file at ``path``;
    ``path`` being one of ``inputs`` (even with ``force``); an existing file without ``force``.
    """
    target = Path(path)
    existing = check_output(target, force=force, inputs=inputs)
    if existing is not None and _is_stream(existing):
        # Renaming over /dev/null would replace the device with a file (as root, for everyone).
        _write_stream(target, data)
        return target
    tmp = _temporary(target, data, 0o600 if private else _public_mode())
    try:
        if existing is None:
            _link_new(tmp, target)
        else:
            # rename() replaces whatever is at the name, a link planted since included; it never
            # writes through one.
            os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _sync_directory(target.parent)
    return target


def _write_stream(path: Path, data: bytes | bytearray) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | _NOFOLLOW | _CLOEXEC | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror}") from None
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def create_exclusive(path: StrPath, data: bytes | bytearray, *, private: bool = True) -> Path:
    """A new file with ``data``, whole or not at all; refused if anything is at ``path``."""
    target = Path(path)
    tmp = _temporary(target, data, 0o600 if private else _public_mode())
    try:
        _link_new(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _sync_directory(target.parent)
    return target


def create_request(directory: Path, stem: str, data: bytes, *, suffix: str = ".json") -> Path:
    """A new owner-only ``DIR/STEM.json`` (``STEM.2.json``… when taken): a request is never
    written over an earlier one, nor through a link planted at its name."""
    for n in range(1, 1000):
        path = directory / (f"{stem}{suffix}" if n == 1 else f"{stem}.{n}{suffix}")
        try:
            return create_exclusive(path, data)
        except OutputExists:
            continue
    raise OutputExists(f"{directory} already holds 999 requests named {stem}: clear it out")


def private_directory(path: StrPath, what: str) -> Path:
    """``path`` as a directory for secrets: made 0700 if missing; else it must be the user's,
    not a link, and not writable by group or others (anyone who can write there can plant files).
    """
    directory = Path(path)
    try:
        directory.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        pass
    except OSError as exc:
        raise InvalidInput(f"cannot create the {what} {directory}: {exc.strerror}") from None
    st = _lstat(directory)
    if st is None or stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise UnsafeFile(f"the {what} {directory} is not a directory (a symbolic link is refused)")
    if st.st_uid != os.geteuid():
        raise UnsafeFile(f"the {what} {directory} belongs to another user (uid {st.st_uid}); use a directory "
                         "of your own")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeFile(f"the {what} {directory} is writable by others (mode {stat.S_IMODE(st.st_mode):04o}): "
                         f"anyone could plant files there; chmod 700 it or use another directory")
    return directory


def refuse_link(path: StrPath, what: str) -> None:
    """A symbolic link at ``path`` is refused (nothing there, or a regular file, is fine)."""
    st = _lstat(Path(path))
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise UnsafeFile(f"the {what} file {path} is a symbolic link: refused (name the real file)")


def private_file(path: StrPath, what: str) -> Path:
    """Create ``path`` 0600 if missing (no window with wider rights), tighten it if it exists.

    A symbolic link at ``path`` is refused: the journal and audit log are never written
    through one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | _NOFOLLOW | _CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFile(f"the {what} {target} is a symbolic link: refused (name the real file)") from None
        raise InvalidInput(f"cannot open the {what} {target}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(f"the {what} {target} is not a regular file")
        if stat.S_IMODE(st.st_mode) & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return target


def read_secret(path: StrPath, what: str) -> bytearray:
    """The bytes of a PIN file, in a buffer the caller wipes.

    Refused when group or others have any right to the file, or another user owns it: a
    secret others can read is no longer secret, and one they can write can be planted.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOCTTY", 0) | _CLOEXEC)
    except OSError as exc:
        raise InvalidInput(f"cannot read the {what} file {path}: {exc.strerror}") from None
    try:
        _check_secret_file(os.fstat(fd), path, what)
        return _read_all(fd, path, what)
    finally:
        os.close(fd)


def _check_secret_file(st: os.stat_result, path: StrPath, what: str) -> None:
    mode = stat.S_IMODE(st.st_mode)
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        how = "readable"
    elif mode & (stat.S_IWGRP | stat.S_IWOTH | stat.S_IXGRP | stat.S_IXOTH):
        how = "writable or executable"
    else:
        how = ""
    if how:
        raise UnsafeFile(f"{path} (holding the {what}) is {how} by others (mode {mode:04o}): refused; "
                         "chmod 600 it (or pass the PIN with --…-fd)")
    if st.st_uid not in (os.geteuid(), 0):
        raise UnsafeFile(f"{path} (holding the {what}) belongs to another user (uid {st.st_uid}): refused")


def _read_all(fd: int, path: StrPath, what: str) -> bytearray:
    buf = bytearray(MAX_SECRET_BYTES + 1)
    size = 0
    with memoryview(buf) as view:
        while size <= MAX_SECRET_BYTES:
            got = os.readv(fd, [view[size:]])
            if got == 0:
                break
            size += got
    if size > MAX_SECRET_BYTES:
        _wipe(buf)
        raise InvalidInput(f"the {what} file {path} is larger than {MAX_SECRET_BYTES} bytes: not a PIN file")
    out = buf[:size]
    _wipe(buf)
    return out


def _wipe(buf: bytearray) -> None:
    buf[:] = bytes(len(buf))

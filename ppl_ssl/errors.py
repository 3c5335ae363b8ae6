"""Errors a user can act on: each message is one line naming the bad thing and the fix."""
import errno


def one_line(text: object) -> str:
    """Text as one line (runs of whitespace, newlines included, as one space): what an error echoes of user input."""
    return " ".join(str(text).split())


class ConfigError(ValueError):
    """A configuration key, value, preset or component name that cannot be used."""


class DataNotFoundError(FileNotFoundError):
    """A dataset's files are not where the loader looked."""


class DataFileError(ValueError):
    """A dataset file that exists but cannot be used: truncated, corrupt, of the wrong shape, or unsafe to read."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: truncated, damaged, not ppl-ssl's, or not matching its run's config."""


class TrainingDiverged(RuntimeError):
    """Training produced a non-finite or runaway loss, term or gradient; the last good checkpoint is kept."""


class FileSystemError(OSError):
    """A file or folder that cannot be read or written (missing, a file where a folder belongs, permission, disk
    full, name too long); the message names the path and what to do."""


_ADVICE = {
    errno.ENOSPC: ("no space left on the device holding {path}", "free space, then run the same command again"),
    errno.EDQUOT: ("disk quota exceeded writing {path}", "free space, then run the same command again"),
    errno.EACCES: ("permission denied: {path}", "make it {access} for this user, or choose another path"),
    errno.EPERM: ("operation not permitted: {path}", "make it {access} for this user, or choose another path"),
    errno.EROFS: ("{path} is on a read-only file system", "choose a writable path (e.g. another --out)"),
    errno.ENOTDIR: ("a part of {path} is a file, not a folder", "choose a path whose folders are folders"),
    errno.EISDIR: ("{path} is a folder where a file belongs", "name the file, or remove the folder"),
    errno.EEXIST: ("{path} exists and is not a folder", "remove it or choose another path"),
    errno.ENAMETOOLONG: ("a name in {path} is too long for the file system", "choose a shorter path"),
    errno.ENOENT: ("{path} does not exist", "check the path"),
}


FILE_SYSTEM_ERRNOS = frozenset(_ADVICE)  # what the file system says; other errnos from a reader mean bad content


def file_system_error(err: OSError, path: object = None, reading: bool = False, kept: str = "") -> FileSystemError:
    """One line for an OSError: the path, what went wrong, what to do, and (`kept`) what is still intact."""
    path = path if path is not None else (err.filename or "a file")
    what, advice = _ADVICE.get(err.errno, (f"{{path}}: {err.strerror or err}", "check the path and its permissions"))
    line = f"{what.format(path=path)}; {advice.format(access='readable' if reading else 'writable')}"
    return FileSystemError(err.errno, f"{line}{f'; {kept}' if kept else ''}")

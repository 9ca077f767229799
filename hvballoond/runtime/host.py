"""Facts about the real host, read once at start-up, and the real ``mem-path`` probe."""

from __future__ import annotations

import errno
import os
import stat

from hvballoond.machine.backends import PathInfo
from hvballoond.machine.config import HostFacts

__all__ = ["DirectoryFileProbe", "probe_host"]


def _read_text(path: str) -> str:
    with open(path) as file:
        return file.read()


def _meminfo() -> dict[str, int]:
    values: dict[str, int] = {}
    try:
        text = _read_text("/proc/meminfo")
    except OSError:
        return values
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[name] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return values


def _read_int(path: str, default: int) -> int:
    try:
        return int(_read_text(path).split()[0])
    except (OSError, ValueError, IndexError):
        return default


def probe_host(*, commit_limit: int | None = None) -> HostFacts:
    info = _meminfo()
    defaults = HostFacts()
    return HostFacts(
        ram_bytes=info.get("MemTotal", defaults.ram_bytes),
        swap_bytes=info.get("SwapTotal", 0),
        commit_limit=commit_limit,
        kvm_available=os.access("/dev/kvm", os.R_OK | os.W_OK),
        page_size=os.sysconf("SC_PAGE_SIZE"),
        thp_size=_read_int("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size",
                           defaults.thp_size),
        default_hugetlb_size=info.get("Hugepagesize", defaults.default_hugetlb_size),
    )


class DirectoryFileProbe:
    """Looks at ``mem-path`` the way QEMU's open would, without creating or writing anything.

    With ``base_dir`` set, paths outside it are not looked at and reported as not permitted.
    """

    def __init__(self, base_dir: str | None = None) -> None:
        self._base = os.path.realpath(base_dir) if base_dir else None
        # Files QEMU would have created or grown (hvballoond never writes them).
        self._allocated: dict[str, int] = {}

    def note_allocated(self, path: str, size: int) -> None:
        real = os.path.realpath(path)
        if os.path.isdir(real):
            return  # QEMU's temporary file inside a directory is unlinked at once
        try:
            current = os.stat(real).st_size
        except OSError:
            current = 0
        self._allocated[real] = max(size, current, self._allocated.get(real, 0))

    def _allowed(self, path: str) -> bool:
        if self._base is None:
            return True
        real = os.path.realpath(path)
        return real == self._base or real.startswith(self._base + os.sep)

    def probe(self, path: str, *, readonly: bool) -> PathInfo:
        if not self._allowed(path):
            return PathInfo(error=os.strerror(errno.EACCES))
        page_size = self._fs_page_size(path)
        allocated = self._allocated.get(os.path.realpath(path))
        if allocated is not None:
            return PathInfo(size=allocated, page_size=page_size)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            parent = os.path.dirname(path) or "."
            if readonly or not os.path.isdir(parent):
                return PathInfo(error=os.strerror(errno.ENOENT))
            if not os.access(parent, os.W_OK):
                return PathInfo(error=os.strerror(errno.EACCES))
            return PathInfo(page_size=page_size)  # QEMU would create it
        except OSError as err:
            return PathInfo(error=err.strerror)
        if stat.S_ISDIR(st.st_mode):
            # QEMU creates (and unlinks) a temporary file inside a directory.
            if not os.access(path, os.W_OK):
                return PathInfo(error=os.strerror(errno.EACCES))
            return PathInfo(page_size=page_size)
        mode = os.R_OK if readonly else os.R_OK | os.W_OK
        if not os.access(path, mode):
            return PathInfo(error=os.strerror(errno.EACCES))
        return PathInfo(size=st.st_size, page_size=page_size)

    @staticmethod
    def _fs_page_size(path: str) -> int:
        """Huge page size for paths on a hugetlbfs mount, the base page size otherwise."""
        real = os.path.realpath(path)
        best, size = "", os.sysconf("SC_PAGE_SIZE")
        try:
            mounts = _read_text("/proc/mounts").splitlines()
        except OSError:
            return size
        for line in mounts:
            fields = line.split()
            if len(fields) < 4 or fields[2] != "hugetlbfs":
                continue
            mount = fields[1]
            inside = real == mount or real.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) > len(best):
                best = mount
                size = _hugetlb_page_size(fields[3])
        return size


def _hugetlb_page_size(options: str) -> int:
    for option in options.split(","):
        if option.startswith("pagesize="):
            value = option.removeprefix("pagesize=")
            units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
            if value[-1:].upper() in units and value[:-1].isdigit():
                return int(value[:-1]) * units[value[-1].upper()]
    return _meminfo().get("Hugepagesize", 2 << 20)

"""Safe reading of ZIP and 7z archives: nothing is written outside the target folder
(zip-slip), and member sizes are bounded (zip bombs)."""

from __future__ import annotations

import logging
import os
import shutil
import zipfile
from pathlib import Path, PurePosixPath

from .errors import DataError

log = logging.getLogger(__name__)

MAX_MEMBER_BYTES = 8 * 1024**3
MAX_TOTAL_BYTES = 16 * 1024**3


def extraction_dir(archive: Path, settings) -> Path:
    """The cache folder for the members of ``archive`` (one per file and modification time)."""
    import hashlib

    key = f"{Path(archive).resolve()}:{Path(archive).stat().st_mtime_ns}"
    return settings.cache_dir / "extracted" / hashlib.sha256(key.encode()).hexdigest()[:16]


def list_members(archive: Path) -> list[str]:
    """Names of the files in a ZIP or 7z archive."""
    archive = Path(archive)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            return [i.filename for i in zf.infolist() if not i.is_dir()]
    if _is_7z(archive):
        import py7zr

        with py7zr.SevenZipFile(archive) as zf:
            return [i.filename for i in zf.list() if not i.is_directory]
    raise DataError(f"{archive} is neither a ZIP nor a 7z archive")


def _safe_target(dest_dir: Path, name: str) -> Path:
    """The path where member ``name`` goes, refusing anything that would leave ``dest_dir``."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        raise DataError(f"archive member {name!r} would be written outside {dest_dir}; refused")
    target = (dest_dir / Path(*pure.parts)).resolve()
    root = dest_dir.resolve()
    if root != target and root not in target.parents:
        raise DataError(f"archive member {name!r} would be written outside {dest_dir}; refused")
    return target


def extract(
    archive: Path,
    dest_dir: Path,
    *,
    members: list[str] | None = None,
    max_member_bytes: int = MAX_MEMBER_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> list[Path]:
    """Extract ``members`` (default: all) of ``archive`` into ``dest_dir``; return their paths.

    Members already extracted with the right size are not extracted again. Each member is
    written to a temporary name and renamed when complete.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    if _is_7z(archive):
        return _extract_7z(archive, dest_dir, members, max_member_bytes, max_total_bytes)
    if not zipfile.is_zipfile(archive):
        raise DataError(f"{archive} is neither a ZIP nor a 7z archive")
    out: list[Path] = []
    total = 0
    with zipfile.ZipFile(archive) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if members is not None:
            wanted = set(members)
            infos = [i for i in infos if i.filename in wanted]
        for info in infos:
            target = _safe_target(dest_dir, info.filename)
            if info.file_size > max_member_bytes:
                raise DataError(
                    f"archive member {info.filename!r} is {info.file_size} bytes, over the limit "
                    f"of {max_member_bytes}"
                )
            total += info.file_size
            if total > max_total_bytes:
                raise DataError(f"{archive} expands to more than {max_total_bytes} bytes; refused")
            if target.exists() and target.stat().st_size == info.file_size:
                out.append(target)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".part-{target.name}")
            written = 0
            with zf.open(info) as src, open(tmp, "wb") as dst:
                for block in iter(lambda: src.read(1 << 20), b""):
                    written += len(block)
                    if written > max_member_bytes or written > info.file_size:
                        dst.close()
                        os.unlink(tmp)
                        raise DataError(
                            f"archive member {info.filename!r} expands beyond its declared size"
                        )
                    dst.write(block)
            os.replace(tmp, target)
            out.append(target)
    return out


def _is_7z(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(6) == b"7z\xbc\xaf\x27\x1c"


def _extract_7z(archive, dest_dir, members, max_member_bytes, max_total_bytes) -> list[Path]:
    import py7zr

    with py7zr.SevenZipFile(archive) as zf:
        infos = [i for i in zf.list() if not i.is_directory]
        if members is not None:
            infos = [i for i in infos if i.filename in set(members)]
        total = 0
        for info in infos:
            _safe_target(dest_dir, info.filename)
            if (info.uncompressed or 0) > max_member_bytes:
                raise DataError(f"7z member {info.filename!r} is over {max_member_bytes} bytes")
            total += info.uncompressed or 0
        if total > max_total_bytes:
            raise DataError(f"{archive} expands to more than {max_total_bytes} bytes; refused")
        names = [i.filename for i in infos]
        staging = dest_dir / ".staging-7z"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        zf.extract(path=staging, targets=names)
    out = []
    for name in names:
        target = _safe_target(dest_dir, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(_safe_target(staging, name), target)
        out.append(target)
    shutil.rmtree(staging, ignore_errors=True)
    return out

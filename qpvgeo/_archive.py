"""Safe reading of ZIP and 7z archives: nothing is written outside the target folder
(zip-slip); member sizes and compression ratios are bounded, counting the bytes actually
written (zip bombs, false declared sizes); a failed extraction leaves the cache as it was."""

from __future__ import annotations

import logging
import os
import shutil
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from .errors import DataError

log = logging.getLogger(__name__)

MAX_MEMBER_BYTES = 8 * 1024**3
MAX_TOTAL_BYTES = 16 * 1024**3
MAX_RATIO = 200  # real GeoPackage/CSV/shapefile archives compress 3-30 times; bombs 1 000 times and more
_RATIO_FLOOR_BYTES = 1 << 20  # small members may compress very well: judge the ratio beyond 1 MiB


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
    max_ratio: float = MAX_RATIO,
) -> list[Path]:
    """Extract ``members`` (default: all) of ``archive`` into ``dest_dir``; return their paths.

    Members already extracted with the right size are not extracted again. Each member is
    written to a temporary name and renamed when complete. A member larger than
    ``max_member_bytes``, an archive expanding to more than ``max_total_bytes``, or a member that
    expands more than ``max_ratio`` times its compressed size is refused, by its declared sizes
    and by the bytes actually written; on any error, what this call wrote is removed.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    if _is_7z(archive):
        return _extract_7z(archive, dest_dir, members, max_member_bytes, max_total_bytes, max_ratio)
    if not zipfile.is_zipfile(archive):
        raise DataError(f"{archive} is neither a ZIP nor a 7z archive")
    out: list[Path] = []
    written_here: list[Path] = []
    total = 0
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            if members is not None:
                wanted = set(members)
                infos = [i for i in infos if i.filename in wanted]
            for info in infos:
                target = _safe_target(dest_dir, info.filename)
                if info.file_size > max_member_bytes:
                    raise DataError(f"archive member {info.filename!r} is {info.file_size} bytes, over the limit "
                                    f"of {max_member_bytes}; refused")
                _check_ratio(info.filename, info.file_size, info.compress_size, max_ratio)
                total += info.file_size
                if total > max_total_bytes:
                    raise DataError(f"{archive} expands to more than {max_total_bytes} bytes; refused")
                if target.exists() and target.stat().st_size == info.file_size:
                    out.append(target)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".part-{target.name}")
                try:
                    written = 0
                    with zf.open(info) as src, open(tmp, "wb") as dst:
                        for block in iter(lambda: src.read(1 << 20), b""):
                            written += len(block)
                            if written > max_member_bytes or written > info.file_size:
                                raise DataError(f"archive member {info.filename!r} expands beyond its declared "
                                                f"size ({info.file_size} bytes); refused")
                            _check_ratio(info.filename, written, info.compress_size, max_ratio)
                            dst.write(block)
                    os.replace(tmp, target)
                    written_here.append(target)
                finally:
                    if tmp.exists():
                        tmp.unlink()
                out.append(target)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        _remove(written_here)
        raise DataError(f"{archive.name} is damaged or cannot be read ({exc}); download it again") from None
    except BaseException:
        _remove(written_here)
        raise
    return out


def _check_ratio(name: str, size: int, compressed: int, max_ratio: float) -> None:
    if size > _RATIO_FLOOR_BYTES and size > max_ratio * max(compressed, 1):
        raise DataError(f"archive member {name!r} expands {size / max(compressed, 1):.0f} times its compressed "
                        f"size (limit {max_ratio:g}): a zip bomb or a damaged archive; refused")


def _remove(paths) -> None:
    for p in paths:
        try:
            p.unlink()
        except OSError:
            pass


def _is_7z(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(6) == b"7z\xbc\xaf\x27\x1c"


def _extract_7z(archive, dest_dir, members, max_member_bytes, max_total_bytes, max_ratio) -> list[Path]:
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
        _check_ratio(archive.name, total, Path(archive).stat().st_size, max_ratio)
        names = [i.filename for i in infos]
        staging = dest_dir / ".staging-7z"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            zf.extract(path=staging, targets=names)
        except Exception as exc:  # noqa: BLE001 - py7zr raises many kinds
            shutil.rmtree(staging, ignore_errors=True)
            raise DataError(f"{archive.name} is damaged or cannot be read ({exc}); download it again") from None
    declared = {i.filename: (i.uncompressed or 0) for i in infos}
    for name in names:
        if _safe_target(staging, name).stat().st_size > declared[name]:
            shutil.rmtree(staging, ignore_errors=True)
            raise DataError(f"7z member {name!r} expands beyond its declared size; refused")
    out = []
    for name in names:
        target = _safe_target(dest_dir, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(_safe_target(staging, name), target)
        out.append(target)
    shutil.rmtree(staging, ignore_errors=True)
    return out

"""Download, verify and extract the official CIC-IDS2017 archive, resuming interrupted transfers."""

from __future__ import annotations

import hashlib
import http.client
import logging
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from privids.exceptions import ConfigError, DataError

__all__ = [
    "ARCHIVES",
    "ArchiveSpec",
    "DownloadResult",
    "download_dataset",
    "extract_archive",
    "fetch",
    "verify_archive",
]

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class ArchiveSpec:
    """What a dataset archive is and how to check it.

    Parameters
    ----------
    name : str
        Registry key (``"cicids2017"``).
    filename : str
        File name on disk.
    url : str
        Official download URL.
    size : int or None
        Expected size in bytes.
    sha256 : str or None
        Expected SHA-256 (lower-case hex); None means only the zip's own CRCs are checked.
    md5 : str or None
        The checksum the publisher ships in its ``.md5`` file (recorded for reference).
    landing_page : str
        Where the terms and citation are.
    """

    name: str
    filename: str
    url: str
    size: int | None
    sha256: str | None
    md5: str | None
    landing_page: str


# The CIC download portal serves MachineLearningCSV.zip next to MachineLearningCSV.md5; that file
# lists MD5 4f83860afbf29cac8163854095bf6cf7 (under the old name MachineLearningCVE.zip). The size
# and SHA-256 below are what several independent, published downloads of that archive report;
# they agree with the official MD5. The same files are also served at 205.174.165.80.
ARCHIVES: dict[str, ArchiveSpec] = {
    "cicids2017": ArchiveSpec(
        name="cicids2017",
        filename="MachineLearningCSV.zip",
        url="http://cicresearch.ca/CICDataset/CIC-IDS-2017/Dataset/CIC-IDS-2017/CSVs/MachineLearningCSV.zip",
        size=235_102_953,
        sha256="c3f26274b36c837ccf28ffd2dbf4582941c30b3ee70a635c6e5b2f87c4727928",
        md5="4f83860afbf29cac8163854095bf6cf7",
        landing_page="https://www.unb.ca/cic/datasets/ids-2017.html",
    ),
}


@dataclass(frozen=True)
class DownloadResult:
    """Outcome of :func:`download_dataset`.

    Attributes
    ----------
    archive : Path
        The verified archive.
    extracted : tuple of Path
        CSV files extracted from it.
    fetched_bytes : int
        Bytes transferred in this call (0 when the archive was already complete).
    resumed : bool
        True when a partial download was continued with an HTTP Range request.
    verification : str
        ``"size+sha256+zip"`` or ``"zip"`` (only the zip's CRCs, when no checksum is known).
    """

    archive: Path
    extracted: tuple[Path, ...]
    fetched_bytes: int
    resumed: bool
    verification: str


def _part(path: Path) -> Path:
    return path.with_name(path.name + ".part")


def _open(url: str, start: int, timeout: float) -> http.client.HTTPResponse:
    req = urllib.request.Request(url, headers={"User-Agent": "privids-download", "Accept-Encoding": "identity"})
    if start:
        req.add_header("Range", f"bytes={start}-")
    return urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 - fetch() admits http(s) URLs only


def fetch(
    url: str,
    path: str | Path,
    *,
    expected_size: int | None = None,
    progress: Progress | None = None,
    retries: int = 3,
    timeout: float = 60.0,
    chunk_size: int = 1 << 20,
) -> tuple[int, bool]:
    """Download ``url`` to ``path``, continuing a previous partial download with HTTP Range.

    Bytes go to ``<path>.part`` and the file is renamed only when complete, so an interrupted run
    leaves a resumable part file and never a truncated archive under the final name.

    Parameters
    ----------
    url : str
        ``http://`` or ``https://`` URL.
    path : str or Path
        Final file.
    expected_size : int or None
        Known size; a server reply that contradicts it is an error.
    progress : callable or None
        Called as ``progress(done_bytes, total_bytes_or_None)`` after every chunk.
    retries : int, default=3
        Further attempts after a dropped connection, each resuming where the last stopped.
    timeout : float, default=60.0
        Socket timeout in seconds.
    chunk_size : int, default=1 MiB

    Returns
    -------
    (int, bool)
        Bytes transferred by this call, and whether a Range resume happened.

    Raises
    ------
    ConfigError
        A URL that is not http(s).
    DataError
        The server is unreachable, refuses, or the transfer keeps failing (the part file stays
        for the next run).
    """
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"download URL must start with http:// or https://; got {url!r}.")
    final = Path(path)
    part = _part(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fetched, resumed = 0, False
    for attempt in range(retries + 1):
        start = part.stat().st_size if part.exists() else 0
        if expected_size is not None and start == expected_size:
            break
        try:
            resp = _open(url, start, timeout)
        except urllib.error.HTTPError as e:
            if e.code == 416 and start and (expected_size is None or start == expected_size):
                break  # the part file already holds the whole resource
            raise DataError(f"download of {url} failed: HTTP {e.code} {e.reason}; check the URL or pass --url.") from e
        except (urllib.error.URLError, OSError) as e:
            if attempt < retries:
                log.warning("cannot reach %s (%s); retrying", url, e)
                continue
            raise DataError(
                f"cannot reach {url}: {e}; check the network, or download the file by hand and pass its folder as --dest."
            ) from e
        with resp:
            status = resp.status
            length = resp.headers.get("Content-Length")
            if start and status == 206:
                resumed = True
                mode = "ab"
                total = start + int(length) if length is not None else expected_size
            else:
                # 200 means the server ignored Range: start over rather than append a second copy.
                start, mode = 0, "wb"
                total = int(length) if length is not None else expected_size
            if expected_size is not None and total is not None and total != expected_size:
                raise DataError(
                    f"{url} announces {total:,} bytes but the archive has {expected_size:,}; "
                    "the URL serves a different file: check --url."
                )
            done = start
            try:
                with open(part, mode) as fh:
                    while chunk := resp.read(chunk_size):
                        fh.write(chunk)
                        done += len(chunk)
                        fetched += len(chunk)
                        if progress is not None:
                            progress(done, total)
            except (http.client.IncompleteRead, OSError) as e:
                if attempt < retries:
                    log.warning("transfer interrupted at %d bytes (%s); resuming", done, e)
                    continue
                raise DataError(
                    f"download of {url} was interrupted at {done:,} bytes: {e}; run the same command again to resume."
                ) from e
        size_now = part.stat().st_size
        if total is None or size_now == total:
            break
        if attempt == retries:
            raise DataError(
                f"download of {url} was interrupted at {size_now:,} of {total:,} bytes; run the same command again to resume."
            )
    part.replace(final)
    return fetched, resumed


def verify_archive(path: str | Path, *, size: int | None = None, sha256: str | None = None) -> str:
    """Check an archive's size, SHA-256 and every member's CRC.

    Parameters
    ----------
    path : str or Path
    size : int or None
        Expected bytes (skipped when None).
    sha256 : str or None
        Expected hex digest (skipped when None).

    Returns
    -------
    str
        What was verified: ``"size+sha256+zip"``, ``"sha256+zip"``, ``"size+zip"`` or ``"zip"``.

    Raises
    ------
    DataError
        On any mismatch or a corrupt zip.
    """
    p = Path(path)
    checks = []
    if size is not None:
        got = p.stat().st_size
        if got != size:
            raise DataError(f"{p} has {got:,} bytes, expected {size:,}; delete it and download again.")
        checks.append("size")
    if sha256 is not None:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
        if h.hexdigest() != sha256.lower():
            raise DataError(
                f"{p} has SHA-256 {h.hexdigest()}, expected {sha256.lower()}; the file is corrupt or not the "
                "official archive: delete it and download again."
            )
        checks.append("sha256")
    try:
        with zipfile.ZipFile(p) as zf:
            bad = zf.testzip()
    except zipfile.BadZipFile as e:
        raise DataError(f"{p} is not a valid zip archive: {e}; delete it and download again.") from e
    if bad is not None:
        raise DataError(f"{p}: member {bad!r} fails its CRC check; delete the archive and download again.")
    checks.append("zip")
    return "+".join(checks)


def extract_archive(path: str | Path, dest: str | Path, *, suffix: str = ".csv") -> tuple[Path, ...]:
    """Extract the ``suffix`` members of a zip into ``dest`` and return their paths.

    Raises
    ------
    DataError
        A member whose name would land outside ``dest`` (absolute path or ``..``).
    """
    out = Path(dest)
    root = out.resolve()
    written = []
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            name = PurePosixPath(info.filename)
            if name.is_absolute() or ".." in name.parts:
                raise DataError(f"archive member {info.filename!r} would be written outside {out}; refusing to extract.")
            if info.is_dir() or not info.filename.lower().endswith(suffix):
                continue
            target = (root / Path(*name.parts)).resolve()
            if root not in target.parents:
                raise DataError(f"archive member {info.filename!r} would be written outside {out}; refusing to extract.")
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                while block := src.read(1 << 20):
                    dst.write(block)
            written.append(target)
    return tuple(sorted(written))


def download_dataset(
    name: str = "cicids2017",
    *,
    dest: str | Path,
    url: str | None = None,
    sha256: str | None = "known",
    size: int | None | str = "known",
    progress: Progress | None = None,
    retries: int = 3,
    timeout: float = 60.0,
) -> DownloadResult:
    """Download (resuming if interrupted), verify and extract a dataset archive.

    Parameters
    ----------
    name : str, default="cicids2017"
        A key of :data:`ARCHIVES`.
    dest : str or Path
        Folder for the archive and the extracted CSV files.
    url : str or None
        Mirror or local copy to fetch instead of the official URL.
    sha256 : str, "known" or None, default="known"
        Expected SHA-256: "known" uses the recorded checksum, None checks only the zip CRCs.
    size : int, "known" or None, default="known"
        Expected size, same convention.
    progress : callable or None
        ``progress(done, total)`` during the transfer.
    retries : int, default=3
    timeout : float, default=60.0

    Returns
    -------
    DownloadResult

    Raises
    ------
    ConfigError
        Unknown dataset name.
    DataError
        Network failure, size/checksum mismatch or a corrupt archive. A checksum mismatch deletes
        the bad file so that the next run starts clean.
    """
    if name not in ARCHIVES:
        raise ConfigError(f"unknown dataset {name!r}; available: {sorted(ARCHIVES)}.")
    spec = ARCHIVES[name]
    want_sha = spec.sha256 if sha256 == "known" else sha256
    want_size = spec.size if size == "known" else size
    folder = Path(dest)
    archive = folder / spec.filename
    fetched, resumed = 0, False
    if not archive.exists():
        fetched, resumed = fetch(url or spec.url, archive, expected_size=want_size if isinstance(want_size, int) else None,
                                 progress=progress, retries=retries, timeout=timeout)
    try:
        verification = verify_archive(archive, size=want_size if isinstance(want_size, int) else None, sha256=want_sha)
    except DataError:
        archive.unlink(missing_ok=True)
        raise
    files = extract_archive(archive, folder)
    return DownloadResult(archive=archive, extracted=files, fetched_bytes=fetched, resumed=resumed,
                          verification=verification)

"""Fetching and unpacking a data set archive: streamed with a progress line and a
SHA-256 digest, unpacked refusing members that would land outside the folder."""

import hashlib
import posixpath
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile

from keras_clx.errors import ClxError


def fetch(url, dest, label, chunk_size=1 << 16):
    """Streams `url` into `dest`; returns the sha256 hex digest.

    `label` set: prints a progress line to stderr.
    """
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done, shown = 0, 0.0
            while chunk := response.read(chunk_size):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if label and time.monotonic() - shown > 0.2:
                    shown = time.monotonic()
                    progress_line(label, done, total)
            if label:
                progress_line(label, done, total)
                print(file=sys.stderr)
    except urllib.error.HTTPError as e:
        raise ClxError(f"download failed: HTTP {e.code} {e.reason} for {url}") from None
    except urllib.error.URLError as e:
        raise ClxError(f"download failed: cannot reach {url} ({e.reason})") from None
    except (OSError, ValueError) as e:
        raise ClxError(f"download failed for {url}: {e}") from None
    return digest.hexdigest()


def progress_line(label, done, total):
    line = f"\rdownloading {label}: {done / 1e6:.1f} MB"
    if total:
        line += f" of {total / 1e6:.1f} MB ({100 * done // total}%)"
    print(line, end="", file=sys.stderr, flush=True)


def check_member(name, url, link=None):
    """Refuses archive entries (or link targets) that would land outside the folder."""
    for path in (name, link):
        if path is None:
            continue
        posix = path.replace("\\", "/")
        normalized = posixpath.normpath(posix)
        escapes = normalized == ".." or normalized.startswith("../")
        if posix.startswith("/") or escapes or ":" in posix.split("/")[0]:
            raise ClxError(f"refusing archive from {url}: entry {name!r} points outside its folder")


def extract(archive, dest, kind, url):
    """Unpacks a zip or tar.gz `archive` into `dest`, refusing path traversal."""
    dest.mkdir()
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                for name in zf.namelist():
                    check_member(name, url)
                zf.extractall(dest)
            return
        with tarfile.open(archive, "r:gz") as tf:
            for member in tf.getmembers():
                if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
                    raise ClxError(f"refusing archive from {url}: entry {member.name!r} is not a file")
                link = None
                if member.issym():
                    link = posixpath.join(posixpath.dirname(member.name), member.linkname)
                elif member.islnk():
                    link = member.linkname
                check_member(member.name, url, link)
            if hasattr(tarfile, "data_filter"):
                tf.extractall(dest, filter="data")
            else:
                tf.extractall(dest)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as e:
        raise ClxError(f"cannot unpack the {kind} archive from {url}: {e}") from None

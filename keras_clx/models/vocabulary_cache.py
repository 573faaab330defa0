"""A cache of learned vocabularies, keyed by everything that determines them.

Learning a WordPiece vocabulary or a SentencePiece model from the recipe's texts
takes most of a small from-scratch run on a CPU (over a minute for UMSAB's 15k
tweets), and every run of a study over the same data learns the same one. The
cache holds each result under the SHA-256 of its kind, settings and texts, in
`$CLX_CACHE_DIR/vocabularies` (default `~/.cache/keras_clx/vocabularies`);
`CLX_CACHE_DIR=off` turns it off. Learning is deterministic, so a hit returns
what learning would.
"""

import hashlib
import os
import pathlib
import tempfile


def cache_dir():
    """The vocabulary cache directory, or None when `CLX_CACHE_DIR=off`."""
    root = os.environ.get("CLX_CACHE_DIR") or str(pathlib.Path.home() / ".cache" / "keras_clx")
    return None if root.lower() == "off" else pathlib.Path(root) / "vocabularies"


def cache_key(kind, texts, **settings):
    digest = hashlib.sha256(f"{kind}|{sorted(settings.items())!r}".encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    return f"{kind}-{digest.hexdigest()[:32]}"


def cached(kind, texts, learn, **settings):
    """`learn()`'s bytes for these texts and settings, from the cache when it holds them."""
    directory = cache_dir()
    if directory is None:
        return learn()
    path = directory / cache_key(kind, texts, **settings)
    if path.is_file():
        return path.read_bytes()
    value = learn()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, delete=False) as f:
            f.write(value)
        os.replace(f.name, path)
    except OSError:  # a read-only home: learning still works, uncached
        pass
    return value

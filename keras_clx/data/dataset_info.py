"""`DatasetInfo`: one entry of the data set registry (where it comes from, what a complete copy holds)."""

import dataclasses
from typing import Optional

ARCHIVE_KINDS = ("zip", "tar.gz")


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What the registry knows about one data set.

    Args:
        name: registry key.
        description: one line.
        citation: the paper to cite.
        license: licence of the data, as stated by its authors.
        url: download URL (or home page when `archive` is `None`).
        files: relative paths every complete copy has.
        archive: `"zip"`, `"tar.gz"`, or `None` when it cannot be downloaded.
        folder: folder name under the data directory (default: `name`).
        archive_root: folder inside the archive that holds `files` (after a
            single top-level folder, as in GitHub archives, is skipped).
        renames: `{name in archive: name in files}`, for releases whose file
            names differ from the expected ones.
        sha256: checksum of the archive, checked when set.
        instructions: how to obtain the data when it cannot be downloaded.
    """

    name: str
    description: str
    citation: str
    license: str
    url: str
    files: tuple
    archive: Optional[str] = None
    folder: Optional[str] = None
    archive_root: Optional[str] = None
    renames: dict = dataclasses.field(default_factory=dict)
    sha256: Optional[str] = None
    instructions: Optional[str] = None

    def __post_init__(self):
        if self.archive not in ARCHIVE_KINDS + (None,):
            raise ValueError(f"archive must be one of {ARCHIVE_KINDS} or None, got {self.archive!r}")
        if self.folder is None:
            object.__setattr__(self, "folder", self.name)
        object.__setattr__(self, "files", tuple(self.files))

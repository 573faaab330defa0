"""Dataset registry: where each data set comes from, which files it has, how to fetch it.

Data lives in one folder per data set under a data directory: the `data_dir`
argument, else the `CLX_DATA_DIR` environment variable, else
`~/.cache/keras_clx/data`. `download` fetches an archive with `urllib`,
unpacks it beside the target and moves it into place only once every expected
file is there, so an interrupted or failed download leaves nothing behind.
"""

import difflib
import os
import pathlib
import shutil
import tempfile

from keras_clx.data import languages
from keras_clx.data.dataset_info import ARCHIVE_KINDS, DatasetInfo  # noqa: F401  (ARCHIVE_KINDS: public)
from keras_clx.data.download import extract, fetch
from keras_clx.data.xtreme_sources import XTREME_DATASETS
from keras_clx.errors import ClxError, DataError

DATA_DIR_ENV = "CLX_DATA_DIR"
DEFAULT_DATA_DIR = "~/.cache/keras_clx/data"


_MTOD_SPLITS = [(lang, split) for lang in ("en", "es", "th") for split in ("train", "eval", "test")]
_SEMEVAL_LANGUAGES = sorted(languages.names(languages.SEMEVAL2016).values())
_UMSAB_LANGUAGES = sorted(languages.names(languages.UMSAB).values())
_MLDOC_LANGUAGES = sorted(languages.names(languages.MLDOC).values())
_MLDOC_SPLITS = ("train.1000", "train.2000", "train.5000", "train.10000", "dev", "test")

_DATASETS = {
    info.name: info
    for info in [
        DatasetInfo(
            name="mtod",
            description="Multilingual task-oriented dialog: 12 intents and slot spans, en/es/th.",
            citation=(
                "Schuster, Gupta, Shah, Lewis. Cross-lingual Transfer Learning for "
                "Multilingual Task Oriented Dialog. NAACL 2019."
            ),
            license="CC BY-SA",
            url=("https://download.pytorch.org/data/multilingual_task_oriented_dialog_slotfilling.zip"),
            files=tuple(f"{lang}/{split}-{lang}.tsv" for lang, split in _MTOD_SPLITS),
            archive="zip",
            folder="multilingual_task_oriented_dialog",
            renames={f"th/{split}-th_TH.tsv": f"th/{split}-th.tsv" for split in ("train", "eval", "test")},
        ),
        DatasetInfo(
            name="mldoc",
            description="MLDoc: Reuters news, 4 topics (CCAT/ECAT/GCAT/MCAT), 8 languages.",
            citation=("Schwenk, Li. A Corpus for Multilingual Document Classification in Eight Languages. LREC 2018."),
            license="Reuters Corpus (RCV1/RCV2) research agreement with NIST; not redistributable",
            url="https://github.com/facebookresearch/MLDoc",
            files=tuple(f"{lang}.{split}" for lang in _MLDOC_LANGUAGES for split in _MLDOC_SPLITS),
            instructions=(
                "MLDoc is built from the Reuters corpora RCV1 and RCV2, which need a signed "
                "agreement (https://trec.nist.gov/data/reuters/reuters.html). With both corpora "
                "unpacked, run `generate_documents.py` from "
                "https://github.com/facebookresearch/MLDoc "
                "once per indices file (`--indices-file rcv2-indices/<language>.<split> "
                "--output-filename <dataset dir>/<language>.<split> --rcv-dir <rcv1 or rcv2 "
                "language folder>`), so that the dataset folder holds files such as "
                "`english.train.1000`, `english.dev` and `german.test`."
            ),
        ),
        DatasetInfo(
            name="semeval2016",
            description="SemEval-2016 Task 5 ABSA, restaurants: opinion targets, 6 languages.",
            citation=("Pontiki et al. SemEval-2016 Task 5: Aspect Based Sentiment Analysis. SemEval 2016, pp. 19-30."),
            license="unclear: research use by the task organisers' terms; do not redistribute",
            url=("https://github.com/YaxinCui/ABSADataset/archive/175bdc1ead020dae16e4e356c849901cedf4e3cf.zip"),
            files=tuple(
                f"{split}/restaurants_{split}_{lang}.xml" for split in ("train", "test") for lang in _SEMEVAL_LANGUAGES
            ),
            archive="zip",
            folder="semeval2016_absa_restaurants",
            archive_root="SemEval2016Task5Corrected",
        ),
        DatasetInfo(
            name="umsab",
            description="XLM-T multilingual sentiment (UMSAB): 3-class tweets, 8 languages.",
            citation=(
                "Barbieri, Espinosa Anke, Camacho-Collados. XLM-T: Multilingual Language Models "
                "in Twitter for Sentiment Analysis and Beyond. LREC 2022."
            ),
            license="per source data set (tweets); repository code Apache-2.0",
            url=("https://github.com/cardiffnlp/xlm-t/archive/874214d64d96599eb869a033c22ec2cc57d19256.zip"),
            files=tuple(
                f"sentiment/{lang}/{split}_{kind}.txt"
                for lang in _UMSAB_LANGUAGES
                for split in ("train", "val", "test")
                for kind in ("text", "labels")
            ),
            archive="zip",
            folder="umsab_xlmt_sentiment",
            archive_root="data",
        ),
    ]
}


_DATASETS.update({info.name: info for info in XTREME_DATASETS})


def list_datasets():
    """Names of the registered data sets, sorted."""
    return sorted(_DATASETS)


def get_dataset(name):
    """The `DatasetInfo` registered as `name`; a `ClxError` suggests the closest name."""
    if isinstance(name, DatasetInfo):
        return name
    if name in _DATASETS:
        return _DATASETS[name]
    close = difflib.get_close_matches(str(name).lower(), list_datasets(), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else "."
    raise ClxError(f"unknown dataset {name!r}{hint} Known datasets: {', '.join(list_datasets())}")


def _data_root(explicit):
    # `data_dir` itself, under a name that the `data_dir=` arguments below do not shadow.
    path = explicit or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
    return pathlib.Path(path).expanduser()


def data_dir(explicit=None):
    """The data directory: `explicit`, else `$CLX_DATA_DIR`, else `~/.cache/keras_clx/data`."""
    return _data_root(explicit)


def dataset_dir(name, data_dir=None):
    """The folder of data set `name` (a name or a `DatasetInfo`) under the data directory."""
    return _data_root(data_dir) / get_dataset(name).folder


def missing_files(info, root):
    """The expected files of `info` (a name or a `DatasetInfo`) that are not under `root`."""
    info = get_dataset(info)
    root = pathlib.Path(root)
    return [f for f in info.files if not (root / f).is_file()]


def download(name, data_dir=None, url=None, progress=True, force=False):
    """Downloads and unpacks a data set into `dataset_dir(name, data_dir)`.

    The archive is streamed to a temporary file beside the target, checked
    against `sha256` when the registry has one, unpacked (refusing entries
    that would land outside the folder), checked for every expected file, and
    only then moved into place. A complete copy is kept as is; an existing
    incomplete folder is replaced only with `force=True`.

    Args:
        name: a registered name or a `DatasetInfo`.
        data_dir: data directory (see `data_dir`).
        url: download from here instead of the registered URL (a mirror).
        progress: print a progress line to stderr.
        force: download even when the folder exists, replacing it.

    Returns:
        The dataset folder.
    """
    info = get_dataset(name)
    target = dataset_dir(info, data_dir)
    if info.archive is None:
        raise ClxError(
            f"dataset {info.name!r} cannot be downloaded automatically. {info.instructions or ''}"
            f" Put the files in {target}."
        )
    if target.exists() and not force:
        missing = missing_files(info, target)
        if not missing:
            return target
        raise ClxError(
            f"{target} exists but is incomplete (missing {_shorten(missing)}); remove it or download with force=True"
        )
    url = url or info.url
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        work = pathlib.Path(tempfile.mkdtemp(prefix=f".{info.folder}.", dir=target.parent))
    except OSError as e:
        raise ClxError(f"cannot write to the data directory {target.parent}: {e}") from None
    try:
        archive = work / "archive"
        digest = fetch(url, archive, info.name if progress else None)
        if info.sha256 and digest != info.sha256.lower():
            raise ClxError(f"checksum mismatch for {url}: expected sha256 {info.sha256}, got {digest}")
        unpacked = work / "unpacked"
        extract(archive, unpacked, info.archive, url)
        root = _dataset_root(unpacked, info)
        for source, dest in info.renames.items():
            if (root / source).is_file() and not (root / dest).exists():
                (root / source).rename(root / dest)
        missing = missing_files(info, root)
        if missing:
            raise ClxError(f"the archive from {url} lacks expected files of {info.name!r}: {_shorten(missing)}")
        if target.exists():
            previous = work / "previous"
            target.rename(previous)
            try:
                root.rename(target)
            except OSError:
                previous.rename(target)
                raise
        else:
            root.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _shorten(paths, n=5):
    more = f" and {len(paths) - n} more" if len(paths) > n else ""
    return ", ".join(paths[:n]) + more


def _dataset_root(unpacked, info):
    """The folder of the unpacked archive that holds the data set's files.

    A single top-level folder (as in GitHub archives) is looked through, then
    `info.archive_root` is applied.
    """
    candidates = [unpacked]
    entries = [e for e in unpacked.iterdir() if e.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir():
        candidates.append(entries[0])
    roots = [c / info.archive_root if info.archive_root else c for c in candidates]
    for root in roots:
        if root.is_dir() and len(missing_files(info, root)) < len(info.files):
            return root
    for root in roots:
        if root.is_dir():
            return root
    raise ClxError(f"the archive for {info.name!r} has no folder {info.archive_root!r}")


def require_file(path):
    """`path`, or a one-line `DataError` saying how to get the data when it is not a file."""
    path = pathlib.Path(path)
    if path.is_dir():
        raise DataError("is a directory, expected a file", path=path)
    if not path.is_file():
        raise DataError("file not found (set --data-dir or CLX_DATA_DIR, or run `keras-clx download`)", path=path)
    return path

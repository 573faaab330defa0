import dataclasses
import hashlib
import pathlib
import socket

import pytest

from keras_clx.data import registry
from keras_clx.data.registry import DatasetInfo
from keras_clx.errors import ClxError
from tests.helpers import make_tar, make_zip

TOY = DatasetInfo(
    name="toy",
    description="a toy data set",
    citation="nobody",
    license="CC0",
    url="http://127.0.0.1:9/unused.zip",
    files=("en/train.tsv", "en/test.tsv"),
    archive="zip",
    folder="toy_data",
)


def leftovers(root):
    root = pathlib.Path(root)
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_registered_datasets():
    assert registry.list_datasets() == ["mldoc", "mtod", "panx", "pawsx", "semeval2016", "umsab", "xnli"]
    mtod = registry.get_dataset("mtod")
    assert mtod.url == ("https://download.pytorch.org/data/multilingual_task_oriented_dialog_slotfilling.zip")
    assert {"en/train-en.tsv", "es/eval-es.tsv", "th/test-th.tsv"} <= set(mtod.files)
    assert "Schuster" in mtod.citation and "Pontiki" in registry.get_dataset("semeval2016").citation
    assert registry.get_dataset("mldoc").archive is None
    assert "train/restaurants_train_dutch.xml" in registry.get_dataset("semeval2016").files
    assert "sentiment/hindi/val_labels.txt" in registry.get_dataset("umsab").files
    assert "english.train.1000" in registry.get_dataset("mldoc").files


def test_unknown_dataset_suggests_closest_name():
    message = "unknown dataset 'mtd'; did you mean 'mtod'\\? Known datasets: mldoc, mtod, panx, pawsx, semeval"
    with pytest.raises(ClxError, match=message):
        registry.get_dataset("mtd")
    with pytest.raises(ClxError, match="unknown dataset 'zzz'. Known datasets"):
        registry.get_dataset("zzz")


def test_data_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("CLX_DATA_DIR", str(tmp_path / "env"))
    assert registry.data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert registry.data_dir() == tmp_path / "env"
    monkeypatch.delenv("CLX_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert registry.data_dir() == tmp_path / "home" / ".cache" / "keras_clx" / "data"
    folders = {name: registry.dataset_dir(name, "/d").name for name in registry.list_datasets()}
    assert folders == {
        "mtod": "multilingual_task_oriented_dialog",
        "semeval2016": "semeval2016_absa_restaurants",
        "umsab": "umsab_xlmt_sentiment",
        "mldoc": "mldoc",
        "xnli": "xnli",
        "pawsx": "pawsx",
        "panx": "panx",
    }


def test_missing_files_on_the_shared_data(shared_data):
    mtod = registry.dataset_dir("mtod", shared_data)
    assert registry.missing_files("mtod", mtod) == ["en/train-en.tsv"]
    for name in ("semeval2016", "umsab"):
        info = registry.get_dataset(name)
        assert registry.missing_files(info, registry.dataset_dir(name, shared_data)) == []


def test_mldoc_cannot_be_downloaded(tmp_path):
    message = "cannot be downloaded automatically.*RCV1 and RCV2.*facebookresearch/MLDoc"
    with pytest.raises(ClxError, match=message):
        registry.download("mldoc", data_dir=tmp_path)
    assert leftovers(tmp_path) == []


def test_download_zip_with_top_folder(http_server, tmp_path, capsys):
    base, www = http_server
    members = {"release/en/train.tsv": "a\tb\n", "release/en/test.tsv": "c", "release/README": ""}
    make_zip(www / "toy.zip", members)
    root = tmp_path / "data"
    target = registry.download(TOY, data_dir=root, url=f"{base}/toy.zip")
    assert target == root / "toy_data"
    assert (target / "en" / "train.tsv").read_text() == "a\tb\n"
    assert (target / "README").is_file()
    assert leftovers(root) == ["toy_data"]
    assert "downloading toy:" in capsys.readouterr().err
    # A complete copy is kept without contacting the server.
    assert registry.download(TOY, data_dir=root, url=f"{base}/gone.zip", progress=False) == target


def test_download_registered_mtod_renames_thai_files(http_server, tmp_path):
    base, www = http_server
    root = tmp_path / "data"
    members = {}
    for lang in ("en", "es", "th"):
        for split in ("train", "eval", "test"):
            name = f"{split}-th_TH.tsv" if lang == "th" else f"{split}-{lang}.tsv"
            members[f"multilingual_task_oriented_dialog_slotfilling/{lang}/{name}"] = "row\n"
    make_zip(www / "mtod.zip", members)
    target = registry.download("mtod", data_dir=root, url=f"{base}/mtod.zip", progress=False)
    assert target == root / "multilingual_task_oriented_dialog"
    assert registry.missing_files("mtod", target) == []
    assert not (target / "th" / "train-th_TH.tsv").exists()


def test_download_tar_gz_with_archive_root_and_checksum(http_server, tmp_path):
    base, www = http_server
    root = tmp_path / "data"
    members = {"repo-abc/data/en/train.tsv": "1", "repo-abc/data/en/test.tsv": "2"}
    archive = make_tar(www / "toy.tar.gz", members)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    info = dataclasses.replace(TOY, archive="tar.gz", archive_root="data", sha256=digest)
    target = registry.download(info, data_dir=root, url=f"{base}/toy.tar.gz", progress=False)
    assert (target / "en" / "test.tsv").read_text() == "2"

    wrong = dataclasses.replace(info, folder="other", sha256="0" * 64)
    with pytest.raises(ClxError, match="checksum mismatch"):
        registry.download(wrong, data_dir=root, url=f"{base}/toy.tar.gz", progress=False)
    assert leftovers(root) == ["toy_data"]


def test_http_404_and_connection_refused(http_server, tmp_path):
    base, _ = http_server
    root = tmp_path / "data"
    with pytest.raises(ClxError, match="HTTP 404"):
        registry.download(TOY, data_dir=root, url=f"{base}/missing.zip", progress=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ClxError, match="cannot reach"):
        url = f"http://127.0.0.1:{port}/toy.zip"
        registry.download(TOY, data_dir=root, url=url, progress=False)
    assert leftovers(root) == []


def test_path_traversal_is_refused(http_server, tmp_path):
    base, www = http_server
    make_zip(www / "evil.zip", {"en/train.tsv": "x", "en/test.tsv": "y", "../evil": "gotcha"})
    root = tmp_path / "data"
    with pytest.raises(ClxError, match="entry '../evil' points outside"):
        registry.download(TOY, data_dir=root, url=f"{base}/evil.zip", progress=False)
    members = {"en/train.tsv": "x", "en/test.tsv": "y"}
    make_tar(www / "evil.tar.gz", members, links=[("en/link", "../../../etc")])
    info = dataclasses.replace(TOY, archive="tar.gz")
    with pytest.raises(ClxError, match="entry 'en/link' points outside"):
        registry.download(info, data_dir=root, url=f"{base}/evil.tar.gz", progress=False)
    assert leftovers(root) == []
    assert not list(tmp_path.rglob("evil"))


def test_incomplete_or_invalid_archives_leave_nothing(http_server, tmp_path):
    base, www = http_server
    root = tmp_path / "data"
    make_zip(www / "partial.zip", {"en/train.tsv": "x"})
    (www / "page.zip").write_text("<html>not a zip</html>")
    with pytest.raises(ClxError, match="lacks expected files of 'toy': en/test.tsv"):
        registry.download(TOY, data_dir=root, url=f"{base}/partial.zip", progress=False)
    with pytest.raises(ClxError, match="cannot unpack the zip archive"):
        registry.download(TOY, data_dir=root, url=f"{base}/page.zip", progress=False)
    assert leftovers(root) == []


def test_existing_incomplete_folder_needs_force(http_server, tmp_path):
    base, www = http_server
    root = tmp_path / "data"
    make_zip(www / "toy.zip", {"en/train.tsv": "new", "en/test.tsv": "new"})
    (root / "toy_data" / "en").mkdir(parents=True)
    (root / "toy_data" / "en" / "train.tsv").write_text("old")
    message = "exists but is incomplete \\(missing en/test.tsv\\).*force=True"
    with pytest.raises(ClxError, match=message):
        registry.download(TOY, data_dir=root, url=f"{base}/toy.zip", progress=False)
    assert (root / "toy_data" / "en" / "train.tsv").read_text() == "old"
    url = f"{base}/toy.zip"
    target = registry.download(TOY, data_dir=root, url=url, progress=False, force=True)
    assert (target / "en" / "train.tsv").read_text() == "new"
    assert leftovers(root) == ["toy_data"]

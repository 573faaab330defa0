"""Registry entries of the XTREME tasks' data sets: XNLI, PAWS-X (official releases), PAN-X."""

from keras_clx.data import languages
from keras_clx.data.dataset_info import DatasetInfo

_PAWSX_LANGUAGES = languages.PAWSX

XTREME_DATASETS = [
    DatasetInfo(
        name="xnli",
        description="XNLI dev/test: natural language inference pairs, 15 languages (official release).",
        citation=("Conneau et al. XNLI: Evaluating Cross-lingual Sentence Representations. EMNLP 2018."),
        license="CC BY-NC 4.0",
        url="https://dl.fbaipublicfiles.com/XNLI/XNLI-1.0.zip",
        files=("xnli.dev.tsv", "xnli.test.tsv"),
        archive="zip",
        archive_root="XNLI-1.0",
        instructions=(
            "The English training set is MultiNLI: put XTREME's `train-en.tsv` "
            "(premise, hypothesis, label) beside these files."
        ),
    ),
    DatasetInfo(
        name="pawsx",
        description="PAWS-X: paraphrase identification pairs, 7 languages (official release).",
        citation=(
            "Yang, Zhang, Tar, Baldridge. PAWS-X: A Cross-lingual Adversarial Dataset for "
            "Paraphrase Identification. EMNLP 2019."
        ),
        license="free for any purpose, acknowledgement of Google LLC appreciated (PAWS terms)",
        url="https://storage.googleapis.com/paws/pawsx/x-final.tar.gz",
        files=("train-en.tsv",)
        + tuple(f"{split}-{lang}.tsv" for split in ("dev", "test") for lang in _PAWSX_LANGUAGES),
        archive="tar.gz",
        archive_root="x-final",
        renames={
            "en/train.tsv": "train-en.tsv",
            **{
                f"{lang}/{split}_2k.tsv": f"{split}-{lang}.tsv"
                for split in ("dev", "test")
                for lang in _PAWSX_LANGUAGES
            },
        },
    ),
    DatasetInfo(
        name="panx",
        description="PAN-X (WikiANN) NER: PER/ORG/LOC, 40 languages, XTREME's splits.",
        citation=(
            "Pan et al. Cross-lingual Name Tagging and Linking for 282 Languages. ACL 2017; "
            "Hu et al. XTREME. ICML 2020."
        ),
        license="ODC-BY (WikiANN annotations of Wikipedia text)",
        url="https://github.com/google-research/xtreme",
        files=tuple(f"{split}-en.tsv" for split in ("train", "dev", "test")),
        instructions=(
            "Follow XTREME's `scripts/download_data.sh` (the AmazonDrive archive `AmazonPhotos.zip`, "
            "then `utils_preprocess.py --task panx`), so that the dataset folder holds "
            "`{train,dev,test}-<lang>.tsv` files of `word<TAB>tag` lines."
        ),
    ),
]

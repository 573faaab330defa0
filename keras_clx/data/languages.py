"""Language codes and the English names some data sets use in their file and folder
names (MLDoc `english.train.1000`, SemEval `restaurants_train_english.xml`, UMSAB
`sentiment/english/`), and which languages each data set has."""

NAMES = {
    "ar": "arabic",
    "de": "german",
    "en": "english",
    "es": "spanish",
    "fr": "french",
    "hi": "hindi",
    "it": "italian",
    "ja": "japanese",
    "nl": "dutch",
    "pt": "portuguese",
    "ru": "russian",
    "th": "thai",
    "tr": "turkish",
    "zh": "chinese",
}
CODES = {name: code for code, name in NAMES.items()}

MLDOC = ("de", "en", "es", "fr", "it", "ja", "ru", "zh")
SEMEVAL2016 = ("en", "es", "fr", "nl", "ru", "tr")
UMSAB = ("ar", "de", "en", "es", "fr", "hi", "it", "pt")
PAWSX = ("de", "en", "es", "fr", "ja", "ko", "zh")
# Scripts written without spaces between words
UNSPACED = ("ja", "km", "lo", "my", "th", "zh")


def is_unspaced(language):
    """Whether `language` (a code or an English name) writes words without spaces between them."""
    return CODES.get(str(language).lower(), str(language).lower()) in UNSPACED


XNLI = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")


def names(codes):
    """`{code: English name}` of `codes`."""
    return {code: NAMES[code] for code in codes}

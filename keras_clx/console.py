"""What keras-clx prints for people: `[keras-clx]` phase lines and warnings on stderr,
and fixed-width tables that are also valid Markdown."""

import sys

PREFIX = "[keras-clx]"


def log(message, verbose=1):
    """A one-line phase summary on stderr (silent when `verbose=0`)."""
    if verbose:
        print(f"{PREFIX} {message}", file=sys.stderr, flush=True)


def warn(message):
    """A one-line warning on stderr, printed whatever the verbosity."""
    print(f"{PREFIX} warning: {message}", file=sys.stderr, flush=True)


def markdown_table(header, rows):
    """`header` and `rows` (lists of cells) as a padded Markdown table."""
    lines = [[str(c) for c in header], *([str(c) for c in row] for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths)) + " |" for line in lines]
    out.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)

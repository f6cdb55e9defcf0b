"""Split long text into pages that each fit one simpleText."""

from __future__ import annotations

from collections.abc import Iterator

from surveybot.kakao.limits import take, text_len

# Pages leave room for a "(1/3)" header or a hint under the 1000-character simpleText limit.
PAGE_LIMIT = 900


def _split_long(line: str, limit: int) -> Iterator[str]:
    """Pieces of at most `limit` units, cut after a space when one is in the second half."""
    start = 0
    # A remainder of more than `limit` code points cannot fit; only shorter ones need measuring.
    while len(line) - start > limit or text_len(line[start:]) > limit:
        head = take(line[start : start + limit], limit)
        space = max(head.rfind(" "), head.rfind("\t"))
        if space >= len(head) // 2:
            head = head[: space + 1]
        yield head
        start += len(head)
    yield line[start:]


def _close(page: list[str]) -> str:
    """A page's text without trailing blank lines."""
    while page and not page[-1].strip():
        page.pop()
    return "\n".join(page)


def paginate(text: str, limit: int = PAGE_LIMIT) -> list[str]:
    """Split `text` into pages of at most `limit` units on line boundaries; never [].

    A line longer than `limit` is split (after a space when possible). Blank lines at a page
    boundary are dropped, so no page starts or ends blank; text that fits is returned as is.
    """
    if limit < 2:
        raise ValueError("limit must be at least 2")
    text = text.replace("\r\n", "\n")
    if text_len(text) <= limit:
        return [text]
    pages: list[str] = []
    page: list[str] = []
    size = -1  # units in `page`, counting the newlines between its lines
    for line in text.split("\n"):
        for piece in _split_long(line, limit):
            if page and size + 1 + text_len(piece) > limit:
                pages.append(_close(page))
                page, size = [], -1
            if page or piece.strip():
                page.append(piece)
                size += 1 + text_len(piece)
    if page:
        pages.append(_close(page))
    return pages or [""]

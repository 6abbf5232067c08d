"""UTM tags on outgoing links, so a charity can tie helpline-page visits to posts.

Tags are added when a delivery goes out, never stored in the approved text: the content hash
covers the untagged words, so tagging needs no re-approval. Existing query parameters and
fragments are kept; a parameter the link already sets is not overwritten.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from channels.text import http_urls


def tag(url: str, params: Mapping[str, str]) -> str:
    """``url`` with ``params`` added to its query (existing keys win, fragment kept)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _ in query}
    query += [(k, v) for k, v in params.items() if k not in present and v]
    return urlunsplit(parts._replace(query=urlencode(query)))


def tag_text(text: str, params: Mapping[str, str]) -> str:
    """``text`` with every http(s) URL in it tagged."""
    if not params:
        return text
    pieces, last = [], 0
    for start, end in http_urls(text):
        pieces += [text[last:start], tag(text[start:end], params)]
        last = end
    pieces.append(text[last:])
    return "".join(pieces)

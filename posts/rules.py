"""Content rules: what a post must and must not say before anyone may submit or approve it.

``check`` returns every problem at once, so ``signpost post check`` can list them all in one
run rather than make the author fix them one by one. The rules:

- every must-include text (a campaign's helpline, say) appears in the main text and in every
  channel variant; one rule may offer alternatives separated by ``|``, as in
  "0808 1000 900|stopitnow.org.uk" (the helpline or the website);
- no forbidden term appears, compared case-insensitively as a whole word;
- every link (the link field and any URL in the text) is on an allowed domain, if the
  campaign names any;
- every image has alt text;
- the text as it goes out fits every channel as that channel counts it (channels.text).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from channels.outgoing import compose_message, measure
from channels.registry import media_problems
from channels.text import compose
from posts.canonical import canonical_json, normalise, sha256_hex


class ChannelLike(Protocol):
    """What the rules need to know of a configured channel."""

    type: str
    options: Mapping[str, Any]


@dataclass(frozen=True)
class Content:
    """The parts of a post that are approved together (and hashed together)."""

    text: str
    variants: dict[str, str] = field(default_factory=dict)
    link: str | None = None
    media: tuple[dict[str, str], ...] = ()

    def normalised(self) -> Content:
        """The same content with every string in Unicode NFC, as stored and hashed."""
        return Content(
            text=normalise(self.text),
            variants=normalise(dict(self.variants)),
            link=normalise(self.link),
            media=tuple(normalise(dict(m)) for m in self.media),
        )

    def content_hash(self) -> str:
        """sha256 of the canonical JSON of text, variants, link, media hashes and alt texts."""
        return sha256_hex(
            canonical_json(
                {
                    "text": self.text,
                    "variants": self.variants,
                    "link": self.link,
                    "media": [{"sha256": m["sha256"], "alt": m.get("alt", "")} for m in self.media],
                }
            )
        )

    def text_for(self, channel: str) -> str:
        """The text that goes to ``channel``: its variant if it has one, with the link."""
        return compose(self.variants.get(channel, self.text), self.link)


@dataclass(frozen=True)
class Problem:
    """One broken rule: where (``field``, maybe ``channel``) and what is wrong."""

    field: str
    message: str
    channel: str | None = None

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class CampaignRules:
    """A campaign's content rules."""

    must_include: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()
    link_domains: tuple[str, ...] = ()
    utm: tuple[tuple[str, str], ...] = ()  # UTM tags added when sending (utm_source aside)

    def utm_for(self, channel_type: str) -> dict[str, str]:
        """The UTM tags a delivery to a channel of ``channel_type`` carries (none if off)."""
        return {"utm_source": channel_type, **dict(self.utm)} if self.utm else {}


def check(
    content: Content,
    rules: CampaignRules,
    channels: Mapping[str, ChannelLike],
    measure: Iterable[str] | None = None,
) -> list[Problem]:
    """Every problem with ``content`` under ``rules``, in a stable order.

    ``channels`` are all configured channels (a variant must name one of them); lengths are
    measured for ``measure`` (default: all of them).
    """
    texts = {"text": compose(content.text, content.link)}
    texts.update({f"variant:{ch}": content.text_for(ch) for ch in sorted(content.variants)})
    problems: list[Problem] = []
    if not content.text.strip():
        problems.append(Problem("text", "is empty"))
    for where, text in texts.items():
        problems += _must_include(where, text, rules.must_include)
        problems += _forbidden(where, text, rules.forbidden)
        if rules.link_domains:
            problems += _link_domains(where, text, rules.link_domains)
    for name in sorted(content.variants):
        if name not in channels:
            known = ", ".join(sorted(channels)) or "none"
            problems.append(
                Problem(
                    f"variant:{name}",
                    f"no channel named '{name}' is configured (configured: {known})",
                )
            )
    for i, item in enumerate(content.media, start=1):
        if not (item.get("alt") or "").strip():
            problems.append(
                Problem(
                    f"image {i}",
                    f"{item.get('path', 'image')} has no alt text (give --alt for every --image)",
                )
            )
    for name in sorted(channels if measure is None else set(measure) & set(channels)):
        problems += _length(name, channels[name], content, rules.utm_for(channels[name].type))
        problems += [
            Problem("image", said, channel=name)
            for said in media_problems(
                name,
                channels[name].type,
                dict(channels[name].options),
                [str(item.get("path", "")) for item in content.media],
            )
        ]
    return problems


def _must_include(where: str, text: str, required: tuple[str, ...]) -> list[Problem]:
    folded = text.casefold()
    problems = []
    for rule in required:
        options = [o.strip() for o in rule.split("|") if o.strip()]
        if not any(o.casefold() in folded for o in options):
            shown = " or ".join(f"'{o}'" for o in options)
            problems.append(Problem(where, f"must include {shown}"))
    return problems


def _forbidden(where: str, text: str, terms: tuple[str, ...]) -> list[Problem]:
    problems = []
    for term in terms:
        pattern = rf"(?<!\w){re.escape(term)}(?!\w)"
        if re.search(pattern, text, re.IGNORECASE):
            problems.append(Problem(where, f"contains the forbidden term '{term}'"))
    return problems


_HTTP_URL = re.compile(r"https?://\S+", re.IGNORECASE)


def _link_domains(where: str, text: str, allowed: tuple[str, ...]) -> list[Problem]:
    """Every host linked from ``text``: twitter-text's URLs (bare domains included) and any
    http(s) URL it does not recognise (IP addresses, unusual TLDs, user:password@host)."""
    from twitter_text import extract_urls

    urls = [*extract_urls(text), *_HTTP_URL.findall(text)]
    hosts = dict.fromkeys(
        (urlsplit(url if "://" in url else f"https://{url}").hostname or "").lower() for url in urls
    )
    return [
        Problem(where, f"links to {host}, which is not an allowed domain ({', '.join(allowed)})")
        for host in hosts
        if not any(host == d or host.endswith("." + d) for d in allowed)
    ]


def _length(
    name: str, channel: ChannelLike, content: Content, utm: dict[str, str]
) -> list[Problem]:
    """Measured as it goes out (channels/outgoing.py): with its link, the link tagged."""
    message = compose_message(
        name,
        channel.type,
        text=content.text,
        variants=content.variants,
        link=content.link,
        media=content.media,
        utm=utm,
        idempotency_key="",
    )
    where = f"variant:{name}" if name in content.variants else "text"
    return [
        Problem(
            where,
            f"too long for {name} ({channel.type}): {m.count} {m.unit}, limit {m.limit}",
            channel=name,
        )
        for m in measure(channel.type, channel.options, message)
        if m.over
    ]

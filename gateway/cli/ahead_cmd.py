"""`gateway ads-script OFFER`: print a Google Ads script that sets campaigns' final URL suffixes from the feed."""

from __future__ import annotations

import argparse

from gateway.ahead.script import ads_script
from gateway.config import Settings
from gateway.errors import ValidationError
from gateway.process.services import Services


def cmd_ads_script(settings: Settings, args: argparse.Namespace) -> int:
    base = (args.base_url or settings.trackier.public_base_url).rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ValidationError("--base-url", "the gateway's public URL, reachable from Google (default: [trackier] "
                                            "public_base_url)")
    with Services.open(settings) as services:
        offer = services.catalog.get(args.key)
    if not offer.feed_token:
        raise ValidationError("OFFER", f"{offer.slug} has no feed token yet: gateway offers rotate-feed-token "
                                       f"{offer.slug}")
    print(ads_script(offer.slug, f"{base}/feed/{offer.slug}/suffix", offer.feed_token, args.label or
                     f"gateway:{offer.slug}", args.dry_run, args.passes, args.interval_s, args.on_empty), end="")
    return 0


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("ads-script", help="print a Google Ads script that sets final URL suffixes from the feed")
    p.add_argument("key", metavar="OFFER", help="id or slug")
    p.add_argument("--label", help="the Google Ads campaign label to update (default gateway:SLUG)")
    p.add_argument("--dry-run", action="store_true", help="the script logs what it would set and sets nothing")
    p.add_argument("--base-url", help="the gateway's public URL (default [trackier] public_base_url)")
    p.add_argument("--passes", type=int, default=1, help="passes per run, for fresher suffixes (default 1)")
    p.add_argument("--interval-s", type=int, default=300,
                   help="seconds between passes, at most 300: the longest pause Google Ads allows (default 300)")
    p.add_argument("--on-empty", choices=("keep", "clear"), default="keep",
                   help="the feed has no fresh trace: keep the campaign's suffix (default) or clear it")
    p.set_defaults(handler=cmd_ads_script)

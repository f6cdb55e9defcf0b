"""Render surveybot's nginx templates natively, as the official nginx image does in a container.

Each `*.template` of the templates folder becomes a file of the same name without `.template` in the
output folder, with `${SURVEYBOT_*}` (and `$SURVEYBOT_*`) replaced as envsubst replaces them (an
unknown variable becomes ""), every other `$name` left to nginx. The HTTPS server template is
rendered only when SURVEYBOT_TLS_DIR holds fullchain.pem and privkey.pem, as 40-surveybot-tls.sh
does in the image.

    python3 nginx/render.py --out DIR [--templates DIR] KEY=VALUE ...

Values come from the environment's SURVEYBOT_* variables, then from KEY=VALUE arguments.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
HTTPS_TEMPLATE = "surveybot-https.conf.template"
# `include conf.d/*.conf` reads files in byte order: this name sorts after surveybot.conf, which
# defines the log format the HTTPS server uses.
HTTPS_CONF = "surveybot_https.conf"
LOCATIONS = HERE / "surveybot-locations.conf"
PREFIX = "SURVEYBOT_"
_VARIABLE = re.compile(r"\$(?:\{(SURVEYBOT_[A-Za-z0-9_]*)\}|(SURVEYBOT_[A-Za-z0-9_]*))")


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """Replace ${SURVEYBOT_X} and $SURVEYBOT_X by their values, "" when unknown."""
    return _VARIABLE.sub(lambda m: variables.get(m.group(1) or m.group(2), ""), text)


def tls_files(variables: Mapping[str, str]) -> tuple[Path, Path] | None:
    """The certificate and key under SURVEYBOT_TLS_DIR, when both exist."""
    folder = variables.get("SURVEYBOT_TLS_DIR", "")
    if not folder:
        return None
    chain, key = Path(folder) / "fullchain.pem", Path(folder) / "privkey.pem"
    return (chain, key) if chain.is_file() and key.is_file() else None


def render(
    templates_dir: str | Path,
    out_dir: str | Path,
    variables: Mapping[str, str],
    *,
    https_template: str | Path | None = None,
) -> list[Path]:
    """Render every template of `templates_dir`, and the HTTPS server when certificates exist.

    `https_template` defaults to surveybot-https.conf.template beside `templates_dir`; it is kept
    out of the templates folder because the image renders that folder unconditionally.
    """
    templates = Path(templates_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for template in sorted(templates.glob("*.template")):
        target = out / template.name.removesuffix(".template")
        target.write_text(substitute(template.read_text(encoding="utf-8"), variables), "utf-8")
        written.append(target)
    https = Path(https_template) if https_template else templates.parent / HTTPS_TEMPLATE
    target = out / HTTPS_CONF
    if tls_files(variables) is not None:
        target.write_text(substitute(https.read_text(encoding="utf-8"), variables), "utf-8")
        written.append(target)
    else:
        target.unlink(missing_ok=True)  # a certificate removed since the last render
    return written


def _pairs(items: Sequence[str]) -> dict[str, str]:
    values = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith(PREFIX):
            raise SystemExit(f"render.py: expected SURVEYBOT_NAME=VALUE, got {item!r}")
        values[key] = value
    return values


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render surveybot's nginx templates.")
    parser.add_argument("--out", required=True, help="output folder (conf.d)")
    parser.add_argument("--templates", default=str(TEMPLATES), help="templates folder")
    parser.add_argument("values", nargs="*", metavar="SURVEYBOT_NAME=VALUE")
    args = parser.parse_args(argv)
    variables = {k: v for k, v in os.environ.items() if k.startswith(PREFIX)}
    variables.update(_pairs(args.values))
    for path in render(args.templates, args.out, variables):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where things are: the repository, the app's Python, the stack's default folder, scratch folders."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

# scripts/devstack/devstack/paths.py: scripts/setup and loadtest/setup install devstack editable,
# so this file stays in the checkout it describes.
REPO = Path(__file__).resolve().parents[3]
NGINX_SRC = REPO / "nginx"
DEFAULT_DIR = REPO / "var" / "stack"
TUNED_PG_CONF = REPO / "db" / "postgresql.conf"


def app_python() -> str:
    """The Python that has surveybot: .venv's, whichever venv (e.g. .venv-load) runs devstack."""
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def existing(path: Path) -> str | None:
    """`path` as a string when it is a file, else None."""
    return str(path) if path.is_file() else None


def scratch_folder(prefix: str) -> Path:
    """A new empty folder that the postgres user can enter, on a roomy RAM disk when there is one
    (CREATE DATABASE and initdb are many times faster there than on disk)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=_ram_disk()))
    folder.chmod(0o755)
    return folder


def _ram_disk() -> str | None:
    shm = Path("/dev/shm")
    try:
        if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free >= 1 << 30:
            return str(shm)
    except OSError:
        pass
    return None  # the system's temporary folder

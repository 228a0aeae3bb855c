"""Links that start the course somewhere else: Binder, a JupyterHub (nbgitpuller), the website.

The repository's public address is written once, as ``Repository`` under ``[project.urls]`` in
``pyproject.toml`` (``COURSE_REPOSITORY`` overrides it, e.g. for a fork); every link is made from it.

    python3 ci/launch.py binder [NOTEBOOK]                       a Binder link (JupyterLab, at NOTEBOOK)
    python3 ci/launch.py hub HUB_URL [NOTEBOOK] [--branch main]  an nbgitpuller link for a JupyterHub
    python3 ci/launch.py hub HUB_URL --repo URL ...              the same for another copy of the course

Only the standard library: a teacher can run it with any Python 3, without the course's .venv.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINDER = "https://mybinder.org"
START = "notebooks/00-start-here.ipynb"


def project_urls(root: Path = ROOT) -> dict[str, str]:
    """``[project.urls]`` of pyproject.toml (read without tomllib, which Python 3.10 lacks)."""
    text = (root / "pyproject.toml").read_text()
    match = re.search(r"^\[project\.urls\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    if not match:
        return {}
    return dict(re.findall(r'^\s*"?([\w -]+?)"?\s*=\s*"([^"]+)"', match.group(1), re.M))


def repository(root: Path = ROOT) -> str:
    """The repository's public address, without a trailing ``.git`` or slash."""
    url = os.environ.get("COURSE_REPOSITORY") or project_urls(root).get("Repository", "")
    if not url:
        raise ValueError("pyproject.toml has no Repository under [project.urls]; set COURSE_REPOSITORY")
    return re.sub(r"(\.git)?/*$", "", url)


def github_slug(repo: str) -> str:
    """'https://github.com/org/course' -> 'org/course' (Binder's ``gh`` provider needs it)."""
    match = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+)", repo)
    if not match:
        raise ValueError(f"not a GitHub repository address: {repo!r} (Binder links here are made for GitHub)")
    return f"{match.group(1)}/{match.group(2)}"


def binder_url(repo: str, path: str = START, ref: str = "HEAD", binder: str = BINDER) -> str:
    """A Binder link that builds ``repo`` (repo2docker) and opens ``path`` in JupyterLab."""
    urlpath = "lab/tree/" + path if path else "lab"
    return f"{binder}/v2/gh/{github_slug(repo)}/{ref}?urlpath={urllib.parse.quote(urlpath, safe='')}"


def binder_badge(repo: str, path: str = START) -> str:
    """The Markdown badge for the README and the site."""
    return f"[![Launch on Binder]({BINDER}/badge_logo.svg)]({binder_url(repo, path)})"


def nbgitpuller_url(hub: str, repo: str, path: str = START, branch: str = "main", app: str = "lab") -> str:
    """An nbgitpuller link: the hub clones ``repo`` into each user's home once (later clicks
    merge new commits without overwriting the learner's changes) and opens ``path``.

    The hub needs the ``nbgitpuller`` package in its user image (it is in requirements.txt).
    The clone lands in a folder named like the repository; ``urlpath`` opens the notebook there.
    """
    hub = hub.rstrip("/")
    if not re.match(r"https?://", hub):
        raise ValueError(f"the hub's address must start with https:// (got {hub!r})")
    folder = re.sub(r"\.git$", "", repo.rstrip("/").rsplit("/", 1)[-1])  # nbgitpuller's folder name
    target = f"{folder}/{path}" if path else folder
    query = urllib.parse.urlencode({
        "repo": repo,
        "branch": branch,
        "urlpath": f"{app}/tree/{target}",
    }, quote_via=urllib.parse.quote, safe="")
    return f"{hub}/hub/user-redirect/git-pull?{query}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", help="the repository's public address (default: pyproject.toml)")
    sub = parser.add_subparsers(dest="command", required=True)
    binder = sub.add_parser("binder", help="a Binder link")
    binder.add_argument("path", nargs="?", default=START)
    binder.add_argument("--ref", default="HEAD", help="branch, tag or commit Binder builds (default HEAD)")
    hub = sub.add_parser("hub", help="an nbgitpuller link for a JupyterHub")
    hub.add_argument("hub_url", help="the hub's address, e.g. https://hub.example.edu")
    hub.add_argument("path", nargs="?", default=START)
    hub.add_argument("--branch", default="main")
    hub.add_argument("--repo", dest="hub_repo", help="the repository's public address (default: pyproject.toml)")
    args = parser.parse_args(argv)
    try:
        repo = re.sub(r"/*$", "", getattr(args, "hub_repo", None) or args.repo or repository())
        if args.command == "binder":
            print(binder_url(repo, args.path, args.ref))
        else:
            print(nbgitpuller_url(args.hub_url, repo, args.path, args.branch))
    except ValueError as exc:
        print(f"launch: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

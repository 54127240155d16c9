"""The docs that are generated from code are current."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_driver_options_doc_is_current():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_driver_docs.py"),
                           "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# -- links and the CLI reference ---------------------------------------------------------

import re  # noqa: E402

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def _markdown_files():
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _anchors(path):
    """GitHub's heading anchors of a Markdown file."""
    text = _FENCE.sub("", path.read_text())
    out = set()
    for heading in re.findall(r"^#+\s+(.*)$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def test_relative_links_resolve():
    broken = []
    for md in _markdown_files():
        text = _FENCE.sub("", md.read_text())
        for target in _LINK.findall(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # absolute URLs; same-page anchors are checked below
            path, _, anchor = target.partition("#")
            resolved = (md.parent / path).resolve()
            if not resolved.exists():
                broken.append(f"{md.relative_to(ROOT)}: {target}")
            elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
                broken.append(f"{md.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_cli_commands_in_docs_exist_and_every_command_is_documented():
    from volumelib.cli.main import COMMANDS

    text = (ROOT / "docs" / "cli.md").read_text()
    named, unknown = set(), []
    for found in re.findall(r"volumelib((?: [a-z][a-z0-9-]*)+)", text):
        words = found.split()
        command = next((" ".join(words[:n]) for n in (2, 1)
                        if " ".join(words[:n]) in COMMANDS), None)
        if command:
            named.add(command)
        elif words not in (["help"], ["db"]):  # `volumelib help CMD`, `db --url URL ACTION`
            unknown.append(f"volumelib{found}")
    assert not unknown, f"docs/cli.md names commands that do not exist: {unknown}"
    missing = sorted(set(COMMANDS) - named)
    assert not missing, f"commands missing from docs/cli.md: {missing}"

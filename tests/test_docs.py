"""The documentation keeps up with the code: docs/architecture.md's layout names every module of referral_app/,
every setting is documented, and every relative link in README.md and docs/*.md reaches a file (and a heading,
when it names one)."""

from __future__ import annotations

import re
from pathlib import Path

from referral_app.core.config import Settings

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "referral_app"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

ENTRY = re.compile(r"^( *)([A-Za-z0-9_]+(?:\.py|/))(?:\s|$)")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*```")


def layout_entries(text: str) -> set[str]:
    """The paths the layout tree names under `referral_app/`: a line that starts with `name.py` or `name/` at
    two spaces per level is an entry; any other line continues the entry above."""
    lines = text.splitlines()
    start = lines.index("referral_app/")
    stack: list[str] = ["referral_app"]
    found: set[str] = set()
    for line in lines[start + 1 :]:
        if line.startswith("```") or (line and not line.startswith(" ")):
            break
        match = ENTRY.match(line)
        if not match:
            continue
        indent, name = len(match.group(1)), match.group(2)
        level = indent // 2
        if indent % 2 or level > len(stack):
            continue  # a description's own words, deeper than any entry
        del stack[level:]
        path = "/".join([*stack, name.rstrip("/")])
        found.add(path)
        if name.endswith("/"):
            stack.append(name.rstrip("/"))
    return found


def package_modules() -> set[str]:
    """Every module and package of referral_app/, as paths from the repository root (a package by its folder)."""
    modules: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if path.name == "__init__.py":
            if relative.parent != Path("referral_app"):
                modules.add(relative.parent.as_posix())
        else:
            modules.add(relative.as_posix())
    return modules


def test_layout_names_every_module() -> None:
    documented = layout_entries((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8"))
    actual = package_modules()
    assert not actual - documented, (
        f"modules missing from docs/architecture.md's layout: {sorted(actual - documented)}"
    )
    assert not documented - actual, f"layout entries with no module: {sorted(documented - actual)}"


def test_every_setting_is_documented() -> None:
    # docs/settings.md is the complete reference; the SMS providers' settings are in README's "Going live", whose
    # `<NAME>_FILE` and `<PROVIDER>_BASE_URL` cover the secrets' files and the providers' addresses.
    text = (ROOT / "README.md").read_text(encoding="utf-8") + (ROOT / "docs" / "settings.md").read_text(
        encoding="utf-8"
    )
    undocumented = [
        name.upper()
        for name in Settings.model_fields
        if name.upper() not in text and not name.endswith(("_file", "_base_url"))
    ]
    assert not undocumented, f"settings missing from docs/settings.md: {undocumented}"


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped (hyphens and underscores kept), spaces to
    hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def headings(path: Path) -> set[str]:
    anchors: set[str] = set()
    counts: dict[str, int] = {}
    for line in outside_code(path.read_text(encoding="utf-8")):
        if match := re.match(r"^#{1,6} (.+)$", line):
            base = anchor(match.group(1))
            seen = counts.get(base, 0)
            counts[base] = seen + 1
            anchors.add(base if not seen else f"{base}-{seen}")
    return anchors


def outside_code(text: str) -> list[str]:
    kept, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            kept.append(re.sub(r"`[^`]*`", "", line))
    return kept


def broken_links(path: Path) -> list[str]:
    broken = []
    for line in outside_code(path.read_text(encoding="utf-8")):
        for target in LINK.findall(line):
            if re.match(r"^[a-z]+:", target):
                continue  # http(s), mailto: not ours to check here
            file_part, _, fragment = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.name}: {target}"
            if not linked.exists():
                broken.append(f"{where} (no such file)")
            elif fragment and linked.suffix == ".md" and fragment not in headings(linked):
                broken.append(f"{where} (no such heading)")
    return broken


def test_relative_links_resolve() -> None:
    broken = [problem for path in DOCS for problem in broken_links(path)]
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_checks_catch_what_they_guard(tmp_path: Path) -> None:
    # The checks themselves: the tree is read by indentation, a missing file or heading is reported.
    tree = "referral_app/\n  core/\n    db/\n      engine.py  engines\n        and sessions\n  cli.py  commands\n"
    assert layout_entries(tree) == {
        "referral_app/core",
        "referral_app/core/db",
        "referral_app/core/db/engine.py",
        "referral_app/cli.py",
    }
    assert anchor("`POST /api/v1/auth/code` — send a login code") == "post-apiv1authcode--send-a-login-code"
    (tmp_path / "other.md").write_text("# Title\n\n## Going live\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[a](other.md#going-live) [b](other.md#gone) [c](missing.md) `[d](missing.md)` [e](https://example.com)\n"
        "```\n[f](missing.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page) == ["page.md: other.md#gone (no such heading)", "page.md: missing.md (no such file)"]

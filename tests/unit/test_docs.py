"""The reference in docs/ stays true to the code, and the README and docs never send a reader
outside the repository."""

from __future__ import annotations

import ast
import re
from dataclasses import fields
from pathlib import Path

from payhub import lifecycle
from payhub.config import Settings

ROOT = Path(__file__).resolve().parent.parent.parent
CONFIGURATION = ROOT / "docs" / "configuration.md"
VARIABLE = re.compile(r"\bPAYHUB_[A-Z0-9_]*[A-Z0-9]\b")
NOT_VARIABLES = {"extra", "generated"}


def code_files() -> list[Path]:
    return [ROOT / "app.py", *sorted((ROOT / "payhub").rglob("*.py"))]


def names_read_by_the_code() -> dict[str, str]:
    """Every PAYHUB_* name the code reads -> where it was found."""
    found = {f"PAYHUB_{f.name.upper()}": "payhub/config.py Settings" for f in fields(Settings)
             if f.name not in NOT_VARIABLES}
    for path in code_files():
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for name in VARIABLE.findall(node.value):
                    found.setdefault(name, where)
            # settings.get("razorpay_key_id"): a PAYHUB_* variable without a Settings field
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                    and ast.unparse(node.func.value).split(".")[-1] in ("settings", "s")
                    and node.args and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str) and re.fullmatch(r"[a-z0-9_]+", node.args[0].value)):
                found.setdefault(f"PAYHUB_{node.args[0].value.upper()}", where)
    return found


def test_the_scan_finds_the_kinds_of_reads_the_code_does():
    names = names_read_by_the_code()
    assert "PAYHUB_POLL_AFTER" in names  # a Settings field
    assert "PAYHUB_RAZORPAY_KEY_ID" in names  # settings.get("razorpay_key_id")
    assert "PAYHUB_ASYNC_MODE" in names  # os.environ in app.py
    assert "PAYHUB_INSTANCE_PATH" in names


def test_every_variable_the_code_reads_is_in_docs_configuration():
    documented = set(VARIABLE.findall(CONFIGURATION.read_text()))
    missing = {name: where for name, where in names_read_by_the_code().items() if name not in documented}
    assert not missing, f"document these in docs/configuration.md (default and meaning): {missing}"


def test_docs_configuration_names_no_variable_the_code_does_not_read():
    stale = set(VARIABLE.findall(CONFIGURATION.read_text())) - set(names_read_by_the_code())
    assert not stale, f"docs/configuration.md lists variables nothing reads: {sorted(stale)}"


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "bench").glob("*.md"))]


def test_readme_and_docs_link_only_to_files_inside_the_repository():
    broken = []
    for page in markdown_files():
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a web address (http:, mailto:) or an anchor on the same page
            path = (page.parent / target.split("#")[0]).resolve()
            if not path.is_relative_to(ROOT) or not path.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken


def test_no_page_sends_readers_to_the_shared_folder():
    for page in markdown_files():
        assert "../shared" not in page.read_text(), page


def test_docs_statuses_table_is_the_transition_table_of_the_code():
    """Each row `| <status> | <kinds> |` of the table in docs/statuses.md lists exactly the
    update kinds lifecycle.TABLE lets apply to that status."""
    text = (ROOT / "docs" / "statuses.md").read_text()
    table = text.split("<!-- transition-table -->")[1]
    rows = {}
    for line in table.strip().splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = set(re.findall(r"`([a-z_]+)`", cells[1]))
    expected = {status: {kind.value for kind in kinds} for status, kinds in lifecycle.TABLE.items()}
    assert rows == expected

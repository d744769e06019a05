"""The window never calls a contract itself: chain reads and checks live in ``milon_app.chain``.

A static scan (no Qt needed): no module under ``milon_app/gui`` touches a
contract's ``.functions`` — neither ``governor.functions.hasVoted(...)`` nor
``fn = token.functions``. The GUI asks :mod:`milon_app.chain.governance`,
the session or the node core instead, as the CLI does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import milon_app.gui

GUI = Path(milon_app.gui.__file__).parent


def contract_calls(source: str, where: str) -> list[str]:
    """``where:line: …`` for every ``.functions`` attribute in one module's source."""
    hits = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and node.attr == "functions"
    ]
    return [f"{where}:{n.lineno}: {ast.unparse(n)}" for n in sorted(hits, key=lambda n: n.lineno)]


def test_the_scan_catches_raw_contract_calls():
    planted = (
        "def load(suite, client, me):\n"
        "    voted = client.call(suite.governor.functions.hasVoted(1, me))\n"
        "    fn = suite.token.functions\n"
        "    return voted, fn.delegates(me).call()\n"
    )
    assert contract_calls(planted, "x.py") == [
        "x.py:2: suite.governor.functions",
        "x.py:3: suite.token.functions",
    ]
    assert contract_calls("def functions():\n    return gov.has_voted(1, me)\n", "y.py") == []


def test_no_gui_module_calls_contract_functions():
    modules = sorted(GUI.rglob("*.py"))
    assert GUI / "tabs" / "governance.py" in modules
    found = [
        hit
        for path in modules
        for hit in contract_calls(path.read_text(encoding="utf-8"), str(path.relative_to(GUI)))
    ]
    assert found == [], "the GUI calls contracts directly; add a chain-layer function:\n" + (
        "\n".join(found)
    )

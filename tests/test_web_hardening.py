"""What anyone can type into a URL or a header answers cleanly (issue 14, output)."""

import pytest

HUGE = "99999999999999999999"


def test_huge_ids_in_paths_are_404_never_500(app, client, db, login, make_user):
    login(make_user("admin"))
    checked = 0
    for rule in app.url_map.iter_rules():
        ints = [
            name for name, conv in rule._converters.items() if type(conv).__name__ == "IdConverter"
        ]
        if not ints or "GET" not in rule.methods:
            continue
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<int:{name}>", HUGE).replace(f"<{name}>", "x")
        assert client.get(path).status_code == 404, path
        checked += 1
    assert checked > 20


@pytest.mark.parametrize(
    "path",
    [
        f"/boards/screen?community={HUGE}",
        f"/boards?scope=community:{HUGE}",
        f"/boards/groups?community={HUGE}",
        f"/panel/residents?community={HUGE}&building={HUGE}&after={HUGE}",
        f"/panel/audit?before={HUGE}",
        f"/panel/dashboard?community={HUGE}",
    ],
)
def test_huge_ids_in_query_arguments_never_reach_the_database(client, db, login, make_user, path):
    login(make_user("admin"))
    assert client.get(path).status_code in (200, 404), path


def test_security_headers(client, db, login, make_user, make_community):
    public = client.get("/boards")
    policy = public.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("style-src")[0]
    assert "frame-ancestors 'none'" in policy
    assert public.headers.get("Cache-Control") != "no-store"
    assert "Strict-Transport-Security" not in public.headers  # demo mode on plain http
    login(make_user(communities=[make_community()]))
    assert client.get("/panel/").headers["Cache-Control"] == "no-store"
    assert client.get("/panel/residents").headers["Cache-Control"] == "no-store"


def test_no_template_has_an_inline_script_or_handler():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "templates"
    for path in root.rglob("*.html"):
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), path
        assert not re.search(r"\son[a-z]+=\"", text), path

"""Regenerate `github-issue-comments.openapi.json`: the part of GitHub's official OpenAPI description
that the fake GitHub API (tests/fakes/github_api.py) implements.

GitHub publishes its REST API description in the npm package `@octokit/openapi`
(`generated/api.github.com.json`, ~13 MB). The contract tests validate every response the fake sends
against it, so the fake cannot quietly drift from the real API. The full file is too big to commit;
this script keeps only the operations ckaction uses and every `#/components/...` object they reference,
transitively. Media-type `examples` are dropped (validation never reads them, and they are most of the
bytes); everything else is copied verbatim.

    python tests/fakes/cut_openapi.py                      # npm pack the pinned version, then cut
    python tests/fakes/cut_openapi.py --version 23.1.0     # move to another release
    python tests/fakes/cut_openapi.py --source path/to/api.github.com.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PACKAGE = "@octokit/openapi"
VERSION = "23.0.2"
MEMBER = "package/generated/api.github.com.json"
OUTPUT = Path(__file__).with_name("github-issue-comments.openapi.json")
OPERATIONS = {
    ("/repos/{owner}/{repo}/issues/{issue_number}/comments", "get"): "issues/list-comments",
    ("/repos/{owner}/{repo}/issues/{issue_number}/comments", "post"): "issues/create-comment",
    ("/repos/{owner}/{repo}/issues/comments/{comment_id}", "patch"): "issues/update-comment",
    ("/repos/{owner}/{repo}/issues/comments/{comment_id}", "delete"): "issues/delete-comment",
    ("/user", "get"): "users/get-authenticated",
    ("/repos/{owner}/{repo}/git/ref/{ref}", "get"): "git/get-ref",
    (
        "/repos/{owner}/{repo}/commits/{commit_sha}/pulls",
        "get",
    ): "repos/list-pull-requests-associated-with-commit",
    ("/repos/{owner}/{repo}/issues/{issue_number}/events", "get"): "issues/list-events",
}


def download(version: str) -> dict[str, Any]:
    """`npm pack` the package into a temp dir and read the description out of the tarball."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["npm", "pack", f"{PACKAGE}@{version}", "--silent", "--pack-destination", tmp],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (tarball,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tarball) as archive:
            member = archive.extractfile(MEMBER)
            if member is None:
                raise SystemExit(f"{MEMBER} not found in {tarball.name}")
            data: dict[str, Any] = json.load(member)
            return data


def drop_examples(node: Any) -> Any:
    """The same tree without media-type `examples` maps (schema-level `example` values stay)."""
    if isinstance(node, dict):
        return {key: drop_examples(value) for key, value in node.items() if key != "examples"}
    if isinstance(node, list):
        return [drop_examples(item) for item in node]
    return node


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def cut(full: dict[str, Any]) -> dict[str, Any]:
    """The kept operations plus the transitive closure of the components they reference."""
    paths: dict[str, dict[str, Any]] = {}
    for (path, method), operation_id in OPERATIONS.items():
        operation = full["paths"][path][method]
        if operation["operationId"] != operation_id:
            raise SystemExit(f"{method.upper()} {path} is now {operation['operationId']}")
        paths.setdefault(path, {})[method] = drop_examples(operation)
    components: dict[str, dict[str, Any]] = {}
    pending = list(refs(paths))
    while pending:
        ref = pending.pop()
        _, section, kind, name = ref.split("/", 3)
        if section != "components" or name in components.get(kind, {}):
            continue
        target = drop_examples(full["components"][kind][name])
        components.setdefault(kind, {})[name] = target
        pending.extend(refs(target))
    return {
        "openapi": full["openapi"],
        "info": {
            **full["info"],
            "x-cut": f"ckaction tests/fakes/cut_openapi.py from npm {PACKAGE}@{full['info']['version']}",
        },
        "servers": full.get("servers", []),
        "paths": paths,
        "components": {
            kind: dict(sorted(items.items())) for kind, items in sorted(components.items())
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default=VERSION, help=f"{PACKAGE} version (default {VERSION})")
    parser.add_argument("--source", type=Path, help="an already downloaded api.github.com.json")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    full = json.loads(args.source.read_text()) if args.source else download(args.version)
    args.output.write_text(json.dumps(cut(full), indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {args.output} ({args.output.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()

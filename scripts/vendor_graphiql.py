"""Vendor GraphiQL's browser bundles into `web/static/graphiql/`, so the page works offline.

    python -m scripts.vendor_graphiql          # fetch the pinned versions with `npm pack`
    python -m scripts.vendor_graphiql --check  # verify the committed files (no npm needed)

The GraphiQL page (`web/graphiql.py`) loads React, GraphiQL and its explorer plugin from the API
itself, never from a CDN. This script downloads the exact versions pinned in `PACKAGES` from the
npm registry (`npm pack`, which checks the tarball against the registry's integrity), copies the
minified browser bundles and each package's licence into `web/static/graphiql/<name>@<version>/`,
and records in `versions.json` each package's version and tarball integrity and each file's
sha384 (the page's `integrity=` attributes; they equal the CDN's). Commit what it writes. To
upgrade, change a version in `PACKAGES`, run it, and check the page in a browser (the test
`tests/http/test_graphiql_browser.py` does).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "web" / "static" / "graphiql"
VERSIONS = TARGET / "versions.json"

# (package, exact version, [(file in the package, kind)]), in the order the page loads them:
# React before ReactDOM, both before GraphiQL's UMD build (which reads the globals `React` and
# `ReactDOM`), GraphiQL before its explorer plugin (which reads `GraphiQL.React`).
PACKAGES: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("react", "18.3.1", [("umd/react.production.min.js", "script")]),
    ("react-dom", "18.3.1", [("umd/react-dom.production.min.js", "script")]),
    ("graphiql", "3.9.0", [("graphiql.min.css", "style"), ("graphiql.min.js", "script")]),
    ("@graphiql/plugin-explorer", "3.2.6", [("dist/style.css", "style"),
                                             ("dist/index.umd.js", "script")]),
]
LICENSES = ("LICENSE", "LICENSE.md", "LICENSE.txt")


def sri(data: bytes) -> str:
    """A Subresource Integrity value: `sha384-<base64 digest>`."""
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def folder(package: str, version: str) -> str:
    """`@graphiql/plugin-explorer` 3.2.6 -> `graphiql-plugin-explorer@3.2.6`."""
    return f"{package.lstrip('@').replace('/', '-')}@{version}"


def pack(npm: str, package: str, version: str, into: Path) -> tuple[Path, str]:
    """`npm pack` one exact version into `into`: the tarball and its registry integrity."""
    out = subprocess.run(  # noqa: S603 (our own pinned arguments)
        [npm, "pack", "--json", "--silent", "--pack-destination", str(into),
         f"{package}@{version}"],
        check=True, capture_output=True, text=True, cwd=into).stdout
    info = json.loads(out)[0]
    if info["version"] != version:
        raise SystemExit(f"npm gave {package}@{info['version']}, not {version}")
    return into / info["filename"], info["integrity"]


def vendor() -> dict[str, Any]:
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is needed to vendor GraphiQL (the committed files need none)")
    assets: list[dict[str, str]] = []
    packages: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for package, version, files in PACKAGES:
            tarball, integrity = pack(npm, package, version, work)
            dest = TARGET / folder(package, version)
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True)
            with tarfile.open(tarball) as archive:
                members = {m.name.removeprefix("package/"): m for m in archive.getmembers()
                           if m.isfile()}

                def read(name: str, members: dict = members, archive: tarfile.TarFile = archive
                         ) -> bytes:
                    handle = archive.extractfile(members[name])
                    assert handle is not None
                    return handle.read()

                licence = next((name for name in LICENSES if name in members), None)
                if licence is not None:
                    (dest / "LICENSE").write_bytes(read(licence))
                else:  # e.g. the explorer plugin ships none: say what its package.json says
                    meta = json.loads(read("package.json"))
                    repository = meta.get("repository") or {}
                    source = repository.get("url", "") if isinstance(repository, dict) \
                        else str(repository)
                    (dest / "LICENSE").write_text(
                        f"{package}@{version} ships no licence file; its package.json declares "
                        f"the licence {meta['license']!r}.\nSource: {source}\n")
                for source, kind in files:
                    data = read(source)
                    name = Path(source).name
                    (dest / name).write_bytes(data)
                    assets.append({"package": package, "version": version, "source": source,
                                   "path": f"{dest.name}/{name}", "kind": kind,
                                   "integrity": sri(data)})
            packages[package] = {"version": version, "integrity": integrity}
    # Versions no longer pinned go away.
    kept = {folder(package, version) for package, version, _ in PACKAGES}
    for old in TARGET.iterdir():
        if old.is_dir() and "@" in old.name and old.name not in kept:
            shutil.rmtree(old)
    record = {"comment": "Written by `python -m scripts.vendor_graphiql`; do not edit by hand.",
              "packages": packages, "assets": assets}
    VERSIONS.write_text(json.dumps(record, indent=2) + "\n")
    return record


def check() -> list[str]:
    """What is wrong with the committed files: missing, or not what versions.json recorded."""
    record = json.loads(VERSIONS.read_text())
    problems = []
    for asset in record["assets"]:
        path = TARGET / asset["path"]
        if not path.is_file():
            problems.append(f"{asset['path']}: missing")
        elif sri(path.read_bytes()) != asset["integrity"]:
            problems.append(f"{asset['path']}: does not match its recorded integrity")
    pinned = {package: version for package, version, _ in PACKAGES}
    recorded = {package: info["version"] for package, info in record["packages"].items()}
    if pinned != recorded:
        problems.append(f"versions.json records {recorded}, the script pins {pinned}: re-run it")
    return problems


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.vendor_graphiql",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="verify the committed files against versions.json, fetch nothing")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        for problem in problems:
            print(problem, file=sys.stderr)
        sys.exit(1 if problems else 0)
    record = vendor()
    for asset in record["assets"]:
        print(f"{asset['path']}  {asset['integrity']}")


if __name__ == "__main__":
    main()

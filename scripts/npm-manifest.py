#!/usr/bin/env python3
"""Finishes the npm package's manifest: pkg/package.json as wasm-pack wrote it, with
npm/manifest.json's fields over it (run by scripts/build-package.sh after wasm-pack).

npm/manifest.json is the one place that says what the package holds:
- `files`: every file a user gets besides package.json, README.md and LICENSE (npm adds those).
  A listed file that wasm-pack does not write is copied from npm/ (for example a worker
  script: put it in npm/ and add its name here). A file found in neither is an error, since npm
  would silently leave it out.
- `exports` (with `types` and `default` conditions), `sideEffects` (false: grl_wasm.js only
  defines functions and classes at load; list a script here, e.g. a worker entry, if it acts
  when imported), `keywords`.
Derived from Cargo.toml's `repository`: `repository` in npm's normalised form, `homepage` (the
demo on GitHub Pages) and `bugs`.

Usage: npm-manifest.py PKG_DIR   (the package wasm-pack wrote, e.g. pkg)
"""
import json
import shutil
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def repository_url() -> str:
    """Cargo.toml's `repository`, e.g. https://github.com/OWNER/NAME (no trailing slash)."""
    with open(ROOT / "Cargo.toml", "rb") as f:
        return tomllib.load(f)["package"]["repository"].rstrip("/")


def pages_url(repository: str) -> str:
    """The GitHub Pages address of https://github.com/OWNER/NAME: https://OWNER.github.io/NAME/."""
    owner, name = repository.removeprefix("https://github.com/").split("/")[:2]
    return f"https://{owner.lower()}.github.io/{name}/"


def derived_fields(repository: str) -> dict:
    return {
        "repository": {"type": "git", "url": f"git+{repository}.git"},
        "homepage": pages_url(repository),
        "bugs": {"url": f"{repository}/issues"},
    }


def export_targets(exports) -> list[str]:
    """Every file path an `exports` map points to (./x -> x)."""
    if isinstance(exports, str):
        return [exports.removeprefix("./")]
    return [path for value in exports.values() for path in export_targets(value)]


def place_files(pkg: Path, files: list[str]) -> None:
    """Copies listed files wasm-pack did not write from npm/; fails on one found nowhere."""
    for name in files:
        if (pkg / name).is_file() or name.endswith("/") and (pkg / name).is_dir():
            continue
        source = ROOT / "npm" / name
        if not source.is_file():
            sys.exit(f"npm-manifest: {name} is in npm/manifest.json's files but neither in {pkg} nor in npm/")
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, pkg / name)


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        sys.exit(__doc__)
    pkg = Path(argv[0])
    manifest = json.loads((pkg / "package.json").read_text())
    overlay = json.loads((ROOT / "npm" / "manifest.json").read_text())
    manifest.update(overlay)
    manifest.update(derived_fields(repository_url()))
    place_files(pkg, manifest["files"])
    shipped = {*manifest["files"], "package.json"}
    for path in [manifest["main"], manifest["types"], *export_targets(manifest["exports"])]:
        if path not in shipped:
            sys.exit(f"npm-manifest: {path} is exported but not in npm/manifest.json's files")
    (pkg / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"{pkg / 'package.json'}: files {', '.join(manifest['files'])}")


if __name__ == "__main__":
    main(sys.argv[1:])

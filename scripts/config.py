#!/usr/bin/env python3
"""Turns wasm-pack.toml (the project's own settings; wasm-pack does not read it) into flags.

Usage: config.py build-flags | test-flags | get SECTION.KEY | lock-version CRATE
"""
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def settings() -> dict:
    with open(ROOT / "wasm-pack.toml", "rb") as f:
        return tomllib.load(f)


def profile_flag(profile: str) -> list[str]:
    return {"release": ["--release"], "dev": ["--dev"], "profiling": ["--profiling"]}[profile]


def features_flags(features: list[str]) -> list[str]:
    return ["--features", ",".join(features)] if features else []


def build_flags(s: dict) -> list[str]:
    b = s["build"]
    return ["--target", b["target"], "--out-dir", b["out-dir"], *profile_flag(b["profile"]),
] + (["--"] + features_flags(b["features"]) if b["features"] else [])


def test_flags(s: dict) -> list[str]:
    t, b = s["test"], s["build"]
    flags = ["--headless"] if t["headless"] else []
    for browser in t["browsers"]:
        flags.append(f"--{browser}")
        if browser == "chrome":
            flags += ["--chromedriver", t["chromedriver"]]
    flags += profile_flag(b["profile"])
    # After "--", cargo's own flags: the features, and only the browser test targets (every
    # other target would be compiled for wasm32 for nothing).
    flags += ["--", *features_flags(b["features"])]
    for target in t["targets"]:
        flags += ["--test", target]
    # After a second "--", the test runner's: print what the tests log (their figures).
    return flags + ["--", "--nocapture"]


def lock_version(crate: str) -> str:
    with open(ROOT / "Cargo.lock", "rb") as f:
        lock = tomllib.load(f)
    versions = {p["version"] for p in lock["package"] if p["name"] == crate}
    if len(versions) != 1:
        sys.exit(f"config.py: expected one version of {crate} in Cargo.lock, found {sorted(versions)}")
    return versions.pop()


def main(argv: list[str]) -> None:
    s = settings()
    match argv:
        case ["build-flags"]:
            print(" ".join(build_flags(s)))
        case ["test-flags"]:
            print(" ".join(test_flags(s)))
        case ["get", key]:
            section, name = key.split(".", 1)
            value = s[section][name]
            print(" ".join(map(str, value)) if isinstance(value, list) else value)
        case ["lock-version", crate]:
            print(lock_version(crate))
        case _:
            sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])

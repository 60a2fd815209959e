#!/usr/bin/env python3
"""Checks what the published crate holds, then `cargo publish --dry-run --no-verify`.

The file list comes from `cargo package --list` (Cargo.toml's `include`). Checked:
- every file is under a root a crate user needs (sources, models, kernels, READMEs) and none
  is large (the demo, node_modules, data and fixtures stay out);
- every `include_str!` / `include_bytes!` in the packaged sources names a packaged file (what a
  verifying build would find missing);
- the dry run packs and checks the manifest for crates.io.

Why --no-verify: verification builds the unpacked crate in cargo's dev profile (cargo package
has no --release), that is Burn and wgpu in a profile nothing else here builds: 20+ minutes on
two cores. The repository's own build already compiles these same sources; the include check
covers the one thing it cannot see, a file left out of the package.

Usage: check-crate.py   (prints the list and the package size; exits non-zero on a problem)
"""
import re
import subprocess
import sys
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
# Top-level folders and files a crate user needs; anything else in the list is a mistake.
ALLOWED_ROOTS = {"src", "benches", "tests", "shaders", "models", "npm"}
ALLOWED_FILES = {"Cargo.toml", "Cargo.toml.orig", "Cargo.lock", "LICENSE", "README.md", ".cargo_vcs_info.json"}
# The largest file a crate user needs is a bundled model (about 210 kB).
MAX_FILE_BYTES = 512 * 1024
MAX_TOTAL_BYTES = 2 * 1024 * 1024
INCLUDE_MACRO = re.compile(r'include_(?:str|bytes)!\(\s*"([^"]+)"\s*\)')


def cargo(*args: str) -> tuple[str, str]:
    """Cargo's (stdout, stderr). Progress such as "Updating crates.io index" (printed when the
    index is cold, as on a fresh machine) goes to stderr, never into the file list."""
    result = subprocess.run(["cargo", *args], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"check-crate: cargo {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout, result.stderr


def problems_in(files: list[str]) -> list[str]:
    """Files outside the allowed roots, too large, or named by an include macro but missing."""
    listed = set(files)
    problems = []
    total = 0
    for name in files:
        path = PurePosixPath(name)
        if len(path.parts) == 1 and name not in ALLOWED_FILES or len(path.parts) > 1 and path.parts[0] not in ALLOWED_ROOTS:
            problems.append(f"{name}: not something a crate user needs (Cargo.toml's `include`)")
        on_disk = ROOT / name
        size = on_disk.stat().st_size if on_disk.is_file() else 0
        total += size
        if size > MAX_FILE_BYTES:
            problems.append(f"{name}: {size} bytes, over {MAX_FILE_BYTES}")
        if name.endswith(".rs") and on_disk.is_file():
            for target in INCLUDE_MACRO.findall(on_disk.read_text()):
                resolved = (on_disk.parent / target).resolve().relative_to(ROOT).as_posix()
                if resolved not in listed:
                    problems.append(f"{name}: includes {target} ({resolved}), which is not in the package")
    if total > MAX_TOTAL_BYTES:
        problems.append(f"the package holds {total} bytes, over {MAX_TOTAL_BYTES}")
    return problems


def main() -> None:
    files = [line.strip() for line in cargo("package", "--list", "--allow-dirty")[0].splitlines() if line.strip()]
    problems = problems_in(files)
    roots = sorted({PurePosixPath(f).parts[0] + ("/" if "/" in f else "") for f in files})
    print(f"crate files: {len(files)} ({', '.join(roots)})")
    if problems:
        sys.exit("check-crate: " + "\n  ".join(["the package list is wrong:", *problems]))
    report = "\n".join(cargo("publish", "--dry-run", "--no-verify", "--allow-dirty"))
    print(next((line.strip() for line in report.splitlines() if "Packaged" in line), report.strip()))


if __name__ == "__main__":
    main()

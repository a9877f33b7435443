#!/usr/bin/env python3
"""Checks that every target of a Swift package imports only what its Package.swift entry declares.

SwiftPM's own --explicit-target-dependency-import-check follows transitive dependencies, so a
target reaching a module through another (Cluster importing the Runner through Pipeline) passes
it. This check allows, per target: the target itself, its direct target dependencies, the modules
of its direct product dependencies (a product's name is taken as its module, plus any module a
declared product is known to carry), and the toolchain's own modules. Anything else — another
target of the package, or a module of a package dependency that the target does not declare — is
reported as file:line and the script exits 1.

usage: ops/check-imports.py [PACKAGE_DIR]     (default: the repository)
"""
import json
import os
import re
import subprocess
import sys

TOOLCHAIN = {
    "Foundation", "FoundationEssentials", "FoundationInternationalization", "FoundationNetworking", "FoundationXML",
    "Glibc", "Musl", "Darwin", "Dispatch", "Swift", "_Concurrency", "Synchronization", "os", "Testing", "XCTest",
    "_StringProcessing", "RegexBuilder", "Observation", "CoreFoundation", "PackageDescription",
}
# Products whose modules differ from the product's name.
PRODUCT_MODULES = {
    "Collections": {"Collections", "DequeModule", "OrderedCollections", "HeapModule", "BitCollections", "HashTreeCollections"},
    "Crypto": {"Crypto", "CryptoExtras"},
}
IMPORT = re.compile(r"^\s*(?:@_exported\s+|@testable\s+|@preconcurrency\s+)*import\s+(?:(?:struct|class|enum|protocol|func|var|let|typealias)\s+)?([A-Za-z_][A-Za-z0-9_]*)")


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    # --ignore-lock: describing only reads, and the test suite runs this while `swift test` holds
    # the package's lock.
    described = subprocess.run(
        ["swift", "package", "--ignore-lock", "--package-path", root, "describe", "--type", "json"], capture_output=True, text=True)
    if described.returncode != 0:
        sys.stderr.write(described.stderr)
        sys.exit(2)
    package = json.loads(described.stdout[described.stdout.index("{"):])
    targets = {t["name"]: t for t in package["targets"]}
    modules = {t["c99name"]: t["name"] for t in package["targets"]}
    problems = []
    for name, target in sorted(targets.items()):
        allowed = set(TOOLCHAIN) | {target["c99name"]}
        for dependency in target.get("target_dependencies") or []:
            allowed.add(targets[dependency]["c99name"] if dependency in targets else dependency)
        for product in target.get("product_dependencies") or []:
            allowed |= PRODUCT_MODULES.get(product, {product})
        directory = os.path.join(root, target["path"])
        for source in target.get("sources") or []:
            if not source.endswith(".swift"):
                continue
            path = os.path.join(directory, source)
            with open(path, encoding="utf-8") as handle:
                for number, line in enumerate(handle, 1):
                    match = IMPORT.match(line)
                    if not match or match.group(1) in allowed:
                        continue
                    module = match.group(1)
                    what = f"the package's target '{modules[module]}'" if module in modules else f"module '{module}'"
                    problems.append(f"{os.path.relpath(path, root)}:{number}: target '{name}' imports {what} without declaring it in Package.swift")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"check-imports: {len(problems)} undeclared import(s)", file=sys.stderr)
        sys.exit(1)
    print(f"check-imports: {len(targets)} targets import only what they declare")


if __name__ == "__main__":
    main()

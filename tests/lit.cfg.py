# lit configuration for nnd: every test is a shell RUN line over the nnd
# binary, checked with FileCheck (both from Debian's llvm-19-tools).
import os
import shutil

import lit.formats

config.name = "nnd"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".nnd", ".nnir", ".test"]
config.excludes = ["Inputs", "lit.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
root = os.path.dirname(config.test_source_root)
build = os.environ.get("NND_BUILD_DIR", os.path.join(root, "build"))
config.test_exec_root = os.path.join(build, "tests")

config.substitutions.append(("%nnd", os.path.join(build, "nnd")))
config.substitutions.append(("%examples", os.path.join(root, "examples")))
config.substitutions.append(("%src", root))
config.substitutions.append(("%build", build))
config.substitutions.append(("%python", "/usr/bin/python3"))
config.environment["PATH"] = "/usr/lib/llvm-19/bin:" + os.environ.get("PATH", "")
config.environment["FASHION"] = "/usr/share/datasets/fashion-mnist"
# lit runs tests side by side: each nnd on one thread unless a test says so
# (nnd's default is every core it may use; results are the same for any count)
config.environment["NND_THREADS"] = "1"
# a sanitized build (NND_SANITIZE) maps terabytes of shadow memory: tests that
# limit the address space (ulimit -v) cannot run there
cache = os.path.join(build, "CMakeCache.txt")
if os.path.exists(cache) and "NND_SANITIZE:STRING=address" in open(cache).read():
    config.available_features.add("asan")
if shutil.which("clang"):
    config.available_features.add("clang")  # tests/lint parses the sources with clang

"""Runs a command while holding an exclusive flock on FILE, as a checkpoint
writer holds its temporary file; exits with the command's status.

usage: hold_lock.py FILE COMMAND...
"""
import fcntl
import subprocess
import sys

with open(sys.argv[1], "rb") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    sys.exit(subprocess.call(sys.argv[2:]))

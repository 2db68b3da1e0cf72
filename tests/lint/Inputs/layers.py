"""Checks that each folder of nnd includes only the folders below it.

Usage: layers.py ROOT. Prints one line per forbidden #include and exits 1
if there is any."""
import os
import re
import sys

ALLOWED = {
    'program': set(),
    'ir': {'program'},
    'frontend': {'ir', 'passes', 'program'},
    'passes': {'ir', 'program'},
    'codegen': {'ir', 'program'},
    'runtime': {'program'},
}
ONLY = {'runtime': 'program/', 'program': 'nothing outside program/'}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def check(root):
    bad = 0
    for folder, allowed in ALLOWED.items():
        path = os.path.join(root, folder)
        if not os.path.isdir(path):
            continue
        for name in sorted(os.listdir(path)):
            if not name.endswith(('.c', '.h', '.y', '.l')):
                continue
            with open(os.path.join(path, name)) as f:
                for number, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    target = os.path.normpath(os.path.join(folder, m.group(1)))
                    top = target.split(os.sep)[0]
                    if top == folder or top not in ALLOWED and top != 'driver':
                        continue
                    if top not in allowed:
                        only = ONLY.get(folder, ', '.join(sorted(allowed)) + '/')
                        print(f'{folder}/{name}:{number}: includes {target}: {folder} may include only {only}')
                        bad += 1
    return bad


if __name__ == '__main__':
    sys.exit(1 if check(sys.argv[1]) else 0)

#!/usr/bin/env bash
# Run `ansible-test sanity` on a copy of the working tree placed where ansible-test wants a collection
# (.tmp/ansible_collections/wiremesh/multicloud). Works offline from ansible's CI files host: ansible-test
# bootstraps pip with a get-pip script it downloads from there; we give it a stand-in that uses a pip wheel.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$root/.venv}
pip_version=24.2
cache_dir=$HOME/.ansible/test/cache
stand_in=$cache_dir/get_pip_${pip_version//./_}.py

if [ ! -s "$stand_in" ]; then
  mkdir -p "$cache_dir/wheels"
  "$venv/bin/python" -m pip download -q --no-deps --only-binary=:all: -d "$cache_dir/wheels" "pip==$pip_version"
  cat > "$stand_in" <<PY
# Stand-in for get-pip.py: run pip from the downloaded wheel with the arguments ansible-test passes.
import glob, os, sys
wheel = sorted(glob.glob(os.path.join("$cache_dir/wheels", "pip-$pip_version-*.whl")))[-1]
sys.path.insert(0, wheel)
from pip._internal.cli.main import main
sys.exit(main(["install", "--no-cache-dir", wheel] + [a for a in sys.argv[1:] if not a.startswith("pip==") and a not in ("--no-setuptools", "--no-wheel")]))
PY
fi

# SANITY_TMP lets two runs side by side use separate copies.
dest=${SANITY_TMP:-$root/.tmp}/ansible_collections/wiremesh/multicloud
rm -rf "$dest"
mkdir -p "$dest"
# (files deleted in the working tree but not yet in git are left out)
(cd "$root" && git ls-files -co --exclude-standard | grep -v -e '^collections/' -e '^\.tmp/' -e '^\.tmp-' \
  | while IFS= read -r f; do [ -e "$f" ] && printf '%s\n' "$f"; done | tar -cf - -T -) | tar -xf - -C "$dest"
cd "$dest"
# ansible-test lists a collection's files with git
git init -q . && git add -A && git -c user.name=sanity -c user.email=sanity@localhost commit -qm sanity
exec "$venv/bin/ansible-test" sanity --venv --python "$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
  "$@"

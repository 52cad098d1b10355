#!/usr/bin/env bash
# Install what tests/test_embedding.py and tests/test_js_package.py need to run the real
# JavaScript clients:
#   - Debian's Chromium at /usr/bin/chromium (for examples/web and the package's browser tests,
#     driven by playwright-core);
#   - node_modules of js/ (the namegen package's dev dependencies: onnxruntime-node,
#     onnxruntime-web, playwright-core, typescript) and of examples/node and examples/web
#     (which link the package), exactly as their package-lock.json pin them.
# Safe to run again: Chromium is installed only when missing, and `npm ci` rebuilds node_modules.
# `--ignore-scripts`: onnxruntime-node's install script downloads CUDA files, which we do not
# need (its CPU binaries ship in the package); nothing here downloads a browser either.
# Needs node and npm on PATH (and root, or sudo, for apt-get when Chromium is missing).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [[ ! -x /usr/bin/chromium ]]; then
  echo "install_clients: installing Debian's chromium" >&2
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
  [[ -x /usr/bin/chromium ]] || { echo "install_clients: /usr/bin/chromium is still missing" >&2; exit 1; }
fi

for cmd in node npm; do
  command -v "$cmd" >/dev/null || { echo "install_clients: '$cmd' is not on PATH; install Node.js 20 or later" >&2; exit 1; }
done

for folder in js examples/node examples/web; do
  echo "install_clients: npm ci in $folder" >&2
  (cd "$root/$folder" && npm ci --ignore-scripts --no-audit --no-fund)
done

echo "install_clients: done (chromium: $(/usr/bin/chromium --version 2>/dev/null || echo '?'); node: $(node --version))" >&2

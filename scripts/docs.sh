#!/usr/bin/env bash
# Build the documentation site (mkdocs.yml, docs/) with --strict: a page missing from the nav, a broken
# link or a link to a missing anchor fails the build. .ci/run calls it as a step of its own.
#
#   scripts/docs.sh                      # builds into site/ (ignored by git)
#   scripts/docs.sh --site-dir /tmp/x    # any other mkdocs build option
#   .venv/bin/mkdocs serve               # live preview at http://127.0.0.1:8000 (stop the mock first)
set -euo pipefail
cd "$(dirname "$0")/.."
# The docs extra goes into the project's own .venv, created here if scripts/test.sh has not made it.
[ -x .venv/bin/python ] || python3 -m venv .venv
if ! .venv/bin/python -c 'import mkdocs, material' 2>/dev/null; then
    .venv/bin/pip install --quiet -e '.[docs]'
fi
# Material 9.7+ prints a banner about its end of life (May 2027) on every build; the pin keeps us on 9.x.
export NO_MKDOCS_2_WARNING=1
exec .venv/bin/mkdocs build --strict --site-dir site "$@"

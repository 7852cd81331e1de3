#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The tests decode tests/data/vectors.tsv, a copy of the project's shared
# vectors: when ../shared/vectors.tsv sits beside the checkout (as in CI),
# the copy must be current.
set -u
. "$(dirname "$0")/../tap.sh"
shared=../shared/vectors.tsv
if [ ! -f "$shared" ]; then
	ok "# SKIP no $shared beside this checkout"
elif cmp -s "$shared" tests/data/vectors.tsv; then
	ok "tests/data/vectors.tsv equals $shared"
else
	not_ok "tests/data/vectors.tsv differs from $shared: cp $shared tests/data/"
fi
finish

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Every tracked source file (C, headers, shell and Perl scripts, Makefiles,
# module.mk, debian/rules and maintainer scripts, anything starting with
# "#!") names its licence in its first two lines:
# "SPDX-License-Identifier: GPL-2.0-or-later". A file added without it
# fails here.
set -u
cd "$(dirname "$0")/../.."
git rev-parse --git-dir >/dev/null 2>&1 || { echo "1..0 # SKIP not a git checkout"; exit 0; }
n=0 missing=()
while IFS= read -r -d '' f; do
	[ -f "$f" ] || continue
	case "$f" in
	*.c|*.h|*.sh|*.pl|*.mk|Makefile|*/Makefile|debian/rules|debian/*.postinst|debian/*.postrm|debian/*.preinst|debian/*.prerm) ;;
	*) head -c 2 "$f" | grep -q '^#!' || continue ;;
	esac
	n=$((n + 1))
	head -n 2 "$f" | grep -q 'SPDX-License-Identifier: GPL-2.0-or-later' ||
		missing+=("$f")
done < <(git ls-files -z)
if [ "$n" -gt 50 ] && [ "${#missing[@]}" -eq 0 ]; then
	echo "ok 1 - all $n source files carry the SPDX line"
else
	echo "not ok 1 - ${#missing[@]} of $n source files lack the SPDX line"
	printf '# %s\n' "${missing[@]}" | head -n 40
fi
echo "1..1"

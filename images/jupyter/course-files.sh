#!/bin/bash
# Run by start.sh as the student: copy the course data's files (`build --course-data DIR`: its files/ folder)
# into the student's data/ folder, each once. A file that is there already is the student's and is kept; a file
# copied before (listed in ~/.local/share/tm351/course-files.copied, on the home volume) is not copied again,
# so one the student deleted stays deleted.
set -euo pipefail

source=/usr/local/share/tm351/course-data
[ -n "${JUPYTER_ROOT_DIR:-}" ] && [ -n "$(ls -A "$source" 2>/dev/null)" ] || exit 0
target=$JUPYTER_ROOT_DIR/data
record=$HOME/.local/share/tm351/course-files.copied
mkdir -p "$(dirname "$record")" "$target"
touch "$record"
while IFS= read -r -d '' relative; do
    if grep -qxF -- "$relative" "$record"; then
        continue
    fi
    if [ -e "$target/$relative" ] || [ -L "$target/$relative" ]; then
        echo "course data: data/$relative is there already; kept as it is"
    else
        mkdir -p "$(dirname "$target/$relative")"
        cp --no-clobber --no-dereference --preserve=timestamps "$source/$relative" "$target/$relative"
        echo "course data: copied data/$relative"
    fi
    printf '%s\n' "$relative" >>"$record"
done < <(find "$source" -type f -printf '%P\0' | sort -z)

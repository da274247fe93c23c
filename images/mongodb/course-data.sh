# shellcheck shell=bash
# Sourced by start.sh: `load_course_data` puts each course collection the image carries into MongoDB, once, with
# a mongod of its own on 127.0.0.1 (port 27018, which nothing outside reaches) before the real one starts:
#   /usr/local/share/tm351/course-data/DB/COLLECTION.json   one document per line (Extended JSON, as mongoexport
#                                                           writes it), loaded by course-load.js
# A collection listed in the volume's tm351-course-data.loaded was loaded (or found there already, a student's, and
# kept) and is never loaded again, so nothing a student changed is loaded over; one that fails leaves nothing of
# it behind, says why, and is tried again at the next start.
course_data=/usr/local/share/tm351/course-data
course_port=27018

# shellcheck disable=SC2154  # dbpath, config and as_user: start.sh's
load_course_data() {
    local marker=$dbpath/tm351-course-data.loaded file relative database collection pending=() server result
    for file in "$course_data"/*/*.json; do
        [ -f "$file" ] || continue
        relative=${file#"$course_data"/}
        grep -qxF "${relative%.json}" "$marker" 2>/dev/null || pending+=("$relative")
    done
    [ "${#pending[@]}" -gt 0 ] || return 0
    "${as_user[@]}" mongod --config "$config" --bind_ip 127.0.0.1 --port "$course_port" >/dev/null &
    server=$!
    timeout 300 bash -c "until mongodb-ping $course_port >/dev/null 2>&1; do sleep 1; done" \
        || tm351_fail "MongoDB did not start to load the course data"
    for relative in "${pending[@]}"; do
        database=${relative%%/*} collection=${relative#*/}
        collection=${collection%.json}
        # HOME in the tmpfs: mongosh makes its folder there, not in the database volume (mongodb's home).
        if result=$(HOME=/tmp TM351_DB=$database TM351_COLLECTION=$collection TM351_FILE=$course_data/$relative \
                "${as_user[@]}" mongosh --quiet --norc --port "$course_port" --file /usr/local/share/mongodb/course-load.js); then
            "${as_user[@]}" tee -a "$marker" <<<"${relative%.json}" >/dev/null
            case $result in
                kept) echo "course data: $database.$collection is there already; kept as it is, not loaded" ;;
                *) echo "course data: $database.$collection ${result}" ;;
            esac
        else
            echo "course data: $relative ${result:-failed}: nothing of it was loaded; it is tried again at the next start" >&2
        fi
    done
    kill -TERM "$server"
    wait "$server" || true
}

#!/bin/bash
# Entry point. As root: make the data directory the service user's. Then run mongod in the foreground as
# mongodb, every privilege dropped. It runs without access control, as the course's own environment does
# (course notebooks connect to mongodb://localhost:27017/ with no login): it listens only on the stack's
# private network, and nothing publishes it (`up --expose-db` publishes only PostgreSQL's door).
set -euo pipefail
# shellcheck source=../foundation/entrypoint.sh
. /usr/local/lib/tm351/entrypoint.sh
# shellcheck source=course-data.sh
. /usr/local/lib/tm351/mongodb-course-data.sh

user=mongodb
config=/etc/mongod.conf
dbpath=/data/db

tm351_drop_to "$user"

if [ "${1:-}" != mongod ]; then
    # Any other command (a shell, mongosh...): run it as the service user, with nothing prepared.
    exec "${as_user[@]}" "$@"
fi

# MongoDB 5.0 and later are built for CPUs with AVX (x86-64) or ARMv8.2-A (arm64, which has the LSE
# atomics): on an older CPU, or a VM that hides these features, mongod dies of an illegal instruction
# with nothing in its log to say why. A CPU that reports no features at all is given the benefit of
# the doubt.
check_cpu() {
    local line
    case $(uname -m) in
        x86_64)
            line=$(grep -m 1 '^flags' /proc/cpuinfo 2>/dev/null) || return 0
            [[ " ${line#*:} " == *" avx "* ]] || tm351_fail "this CPU has no AVX instructions, which MongoDB" \
                "5.0 and later need on x86-64, so MongoDB cannot run on this machine (in a virtual machine, give" \
                "it the host's CPU features, e.g. host CPU passthrough)" ;;
        aarch64)
            line=$(grep -m 1 '^Features' /proc/cpuinfo 2>/dev/null) || return 0
            [[ " ${line#*:} " == *" atomics "* ]] || tm351_fail "this CPU is older than ARMv8.2-A, which" \
                "MongoDB 5.0 and later need on arm64 (a Raspberry Pi 4 is, a Pi 5 is not), so MongoDB cannot" \
                "run on this machine" ;;
    esac
}
check_cpu

shift  # what follows are extra mongod options, such as --verbose

if [ "$(id -u)" = 0 ]; then
    # The volume may come from an image whose service user had another uid, or be a bind mount.
    mkdir -p "$dbpath"
    find "$dbpath" -xdev \( ! -user "$user" -o ! -group "$user" \) -exec chown -h "$user:$user" {} +
    chmod 0700 "$dbpath"
fi
"${as_user[@]}" test -w "$dbpath" || tm351_fail "$dbpath is not writable by $user"

load_course_data
exec "${as_user[@]}" mongod --config "$config" "$@"

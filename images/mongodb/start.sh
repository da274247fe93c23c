#!/bin/bash
# Entry point. As root: read the password secrets (Compose mounts them with the host's owner and
# mode 0600, which the service user cannot read) and make the data directory the service user's.
# At every start (the first one creates the database), run provision.js on a private mongod without
# access control that listens on 127.0.0.1 only, on a port of its own: it creates the users if
# missing and sets both passwords from the secrets, so a rotated secret takes effect at the next
# start. Then run mongod (with access control) in the foreground as mongodb, every privilege dropped.
set -euo pipefail
# shellcheck source=../foundation/entrypoint.sh
. /usr/local/lib/tm351/entrypoint.sh

user=mongodb
config=/etc/mongod.conf
provision_js=/usr/local/share/mongodb/provision.js
dbpath=/data/db
private_port=27099
: "${MONGODB_PASSWORD_FILE:=/run/secrets/mongodb_password}"
: "${MONGODB_ADMIN_PASSWORD_FILE:=/run/secrets/mongodb_admin_password}"

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
# A stop signal (tini passes it on to this script) before the server runs: stop once the command
# under way has finished.
trap 'exit 0' INT TERM

# $1 as a JavaScript string literal (no control characters: read_secret refused them).
js_quote() {
    local value=${1//\\/\\\\}
    printf '"%s"' "${value//\"/\\\"}"
}

# mongosh as the service user, with a throw-away home ($workdir), against the private server. It shares
# the app's memory limit with mongod, so it gives way (the kernel stops it first when the memory runs
# out); npm's mongosh (on Debian's Node.js) also keeps its JavaScript heap small.
private_mongosh() {
    local node_options=${NODE_OPTIONS:-}
    if command -v node >/dev/null; then
        node_options="--max-old-space-size=64 --max-semi-space-size=1"
    fi
    (
        echo 1000 >/proc/self/oom_score_adj 2>/dev/null || true
        exec "${as_user[@]}" env HOME="$workdir" NODE_OPTIONS="$node_options" mongosh --quiet --norc \
            "mongodb://127.0.0.1:$private_port/admin?serverSelectionTimeoutMS=2000" "$@"
    )
}

# Start the private server, run provision.js with the passwords put before it in a file that only
# the service user can read (builtins only: they never reach a command line), stop the server.
provision() {
    local pid deadline=$((SECONDS + 300))
    workdir=$(mktemp -d /tmp/mongodb-init.XXXXXX)
    chown "$user:$user" "$workdir"
    (
        umask 077
        {
            printf 'const password = %s;\n' "$(js_quote "$password")"
            printf 'const adminPassword = %s;\n' "$(js_quote "$admin_password")"
            cat "$provision_js"
        } >"$workdir/provision.js"
    )
    chown "$user:$user" "$workdir/provision.js"

    "${as_user[@]}" mongod --dbpath "$dbpath" --bind_ip 127.0.0.1 --port "$private_port" --nounixsocket \
        --wiredTigerCacheSizeGB 0.25 --setParameter diagnosticDataCollectionEnabled=false --slowms 60000 &
    pid=$!
    # A stop signal now stops the private server first.
    trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid" || true; rm -rf "$workdir"; exit 0' INT TERM
    until timeout 3 mongodb-ping "$private_port" >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" || true
            rm -rf "$workdir"
            tm351_fail "mongod could not start on $dbpath (its log is above; a database made by another" \
                "MongoDB version is left untouched: upgrade it one release series at a time)"
        fi
        [ "$SECONDS" -lt "$deadline" ] || tm351_fail "the private mongod did not answer within 300 s"
        sleep 1
    done
    private_mongosh --file "$workdir/provision.js" || {
        kill -TERM "$pid"
        wait "$pid" || true
        rm -rf "$workdir"
        tm351_fail "provision.js failed (see above)"
    }
    kill -TERM "$pid"
    wait "$pid" || tm351_fail "the private mongod did not stop cleanly (see its log above)"
    rm -rf "$workdir"
    trap 'exit 0' INT TERM
}

password=$(tm351_secret "$MONGODB_PASSWORD_FILE")
admin_password=$(tm351_secret "$MONGODB_ADMIN_PASSWORD_FILE")

if [ "$(id -u)" = 0 ]; then
    # The volume may come from an image whose service user had another uid, or be a bind mount.
    mkdir -p "$dbpath"
    find "$dbpath" -xdev \( ! -user "$user" -o ! -group "$user" \) -exec chown -h "$user:$user" {} +
    chmod 0700 "$dbpath"
fi
"${as_user[@]}" test -w "$dbpath" || tm351_fail "$dbpath is not writable by $user"

provision
unset password admin_password
exec "${as_user[@]}" mongod --config "$config" "$@"

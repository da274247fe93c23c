# shellcheck shell=bash
# The entry points' shared steps, sourced by each app image's start.sh after `set -euo pipefail`:
#   tm351_fail MESSAGE...        print "start.sh: MESSAGE" on stderr and exit 1
#   tm351_secret FILE            print the secret in FILE without surrounding white space (16+ characters)
#   tm351_export_file_secrets    each variable NAME_FILE that names a readable file becomes NAME
#   tm351_remap_user             as root: give $NB_USER the host user's uid and gid ($NB_UID, $NB_GID)
#   tm351_drop_to USER           set the array as_user: the prefix that runs a command as USER with no
#                                privilege left (empty when not root: there is nothing to drop)

tm351_fail() {
    echo "${0##*/}: $*" >&2
    exit 1
}

# Printed by a builtin, never echoed: a secret never reaches a command line.
tm351_secret() {
    local file=$1 value
    { [ -f "$file" ] && [ -r "$file" ]; } || tm351_fail "cannot read the secret file $file"
    value=$(<"$file")
    value=${value#"${value%%[![:space:]]*}"}
    value=${value%"${value##*[![:space:]]}"}
    [ "${#value}" -ge 16 ] || tm351_fail "the secret in $file is shorter than 16 characters"
    case $value in *[[:cntrl:]]*) tm351_fail "the secret in $file contains a control character" ;; esac
    printf '%s' "$value"
}

# A variable NAME_FILE names a secret file (e.g. PGPASSWORD_FILE): the program gets NAME with its content,
# so clients connect without anyone typing or storing a password. Another setting may name such a secret
# as ${NAME} (a URI that carries its password): it is filled in too.
tm351_export_file_secrets() {
    local variable path name value placeholder loaded=()
    while IFS= read -r variable; do
        path=${!variable}
        if [ -r "$path" ]; then
            export "${variable%_FILE}=$(<"$path")"
            loaded+=("${variable%_FILE}")
        fi
        unset "$variable"
    done < <(compgen -e | grep '_FILE$' || true)
    for name in "${loaded[@]}"; do
        placeholder="\${$name}"
        while IFS= read -r variable; do
            value=${!variable}
            if [[ $value == *"$placeholder"* ]]; then
                export "$variable=${value//"$placeholder"/${!name}}"
            fi
        done < <(compgen -e)
    done
}

# Files the service user writes in a mounted host folder then belong to the host user.
tm351_remap_user() {
    local user=${NB_USER:?} home
    home=$(getent passwd "$user" | cut -d: -f6)
    export HOME=$home USER=$user
    [ "$(id -u)" = 0 ] || return 0
    if [ "$(id -g "$user")" != "${NB_GID:?}" ]; then
        if ! getent group "$NB_GID" >/dev/null; then
            groupadd --gid "$NB_GID" "${user}-host"
        fi
        usermod --gid "$NB_GID" "$user"
    fi
    if [ "$(id -u "$user")" != "${NB_UID:?}" ]; then
        # --non-unique: a host user who is root (uid 0) keeps uid 0, without any capability (tm351_drop_to).
        usermod --non-unique --uid "$NB_UID" "$user"
    fi
    # The home directory comes from the image (or a volume made from it): make it the new ids'.
    find "$home" -xdev \( ! -user "$NB_UID" -o ! -group "$NB_GID" \) -exec chown -h "$NB_UID:$NB_GID" {} +
}

# Groups by the user's name, not its uid: after a remap the uid may be another account's too.
# shellcheck disable=SC2034  # as_user is for the script that sources this file
tm351_drop_to() {
    local user=$1 groups
    as_user=()
    [ "$(id -u)" = 0 ] || return 0
    groups=$(id -G "$user")
    as_user=(setpriv --reuid="$(id -u "$user")" --regid="$(id -g "$user")" --groups="${groups// /,}"
             --inh-caps=-all --bounding-set=-all --no-new-privs --)
}

#!/bin/bash
# Entry point: give the service user the host user's uid/gid (so files in the student folder belong
# to them), then drop every privilege and run the command as that user.
set -euo pipefail

user=student
home=/home/$user

# A variable NAME_FILE names a secret file (e.g. PGPASSWORD_FILE): hand the program NAME with its content,
# so database clients in notebooks connect without anyone typing or storing a password.
loaded=()
while IFS= read -r variable; do
    path=${!variable}
    if [ -r "$path" ]; then
        export "${variable%_FILE}=$(<"$path")"
        loaded+=("${variable%_FILE}")
    fi
    unset "$variable"
done < <(compgen -e | grep '_FILE$' || true)
# A setting may name such a secret as ${NAME} (MONGODB_URI carries its password): fill it in here.
for name in "${loaded[@]}"; do
    placeholder="\${$name}"
    while IFS= read -r variable; do
        value=${!variable}
        if [[ $value == *"$placeholder"* ]]; then
            export "$variable=${value//"$placeholder"/${!name}}"
        fi
    done < <(compgen -e)
done

if [ "$(id -u)" != 0 ]; then
    # Started as a non-root user already (e.g. `docker run --user`): nothing to remap.
    exec "$@"
fi

if [ "$(id -g "$user")" != "$NB_GID" ]; then
    if ! getent group "$NB_GID" >/dev/null; then
        groupadd --gid "$NB_GID" "${user}-host"
    fi
    usermod --gid "$NB_GID" "$user"
fi
if [ "$(id -u "$user")" != "$NB_UID" ]; then
    # --non-unique: a host user who is root (uid 0) keeps uid 0, without any capability (see below).
    usermod --non-unique --uid "$NB_UID" "$user"
fi
# The home directory is a volume made from the image: make it the (possibly new) user's.
find "$home" -xdev \( ! -user "$NB_UID" -o ! -group "$NB_GID" \) -exec chown -h "$NB_UID:$NB_GID" {} +

export HOME=$home USER=$user
exec setpriv --reuid="$NB_UID" --regid="$NB_GID" --clear-groups \
    --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"

#!/bin/bash
# Entry point: turn the install's secrets (readable only by root here: Compose mounts them with the
# host's ownership) into nginx's password file and per-app credentials, then drop every privilege.
set -euo pipefail

secrets=/run/secrets
out=/run/gateway

password_file=$secrets/password
if [ ! -s "$password_file" ]; then
    echo "No login password: mount the install's password as the secret $password_file." >&2
    exit 1
fi

umask 077
hash=$(openssl passwd -6 -stdin < "$password_file")
printf '%s:%s\n' "$GATEWAY_USER" "$hash" > "$out/htpasswd"

# Each other secret is an app's own token, which the gateway presents on the student's behalf.
# The app's pages also hand that token to their scripts (JupyterLab sends "Authorization: token ..."
# or ?token=), so on that app's route the token is a login too: only a logged-in page has it.
: > "$out/maps.conf"
for secret in "$secrets"/*; do
    name=$(basename "$secret")
    [ "$name" = password ] && continue
    token=$(tr -d '[:space:]' < "$secret")
    printf 'proxy_set_header Authorization "token %s";\n' "$token" > "$out/auth-$name.conf"
    cat >> "$out/maps.conf" <<MAPS
map \$http_authorization \$tm351_header_realm_$name {
    default "TM351";
    "token $token" off;
}
map \$arg_token \$tm351_realm_$name {
    default \$tm351_header_realm_$name;
    "$token" off;
}
MAPS
done
chown -R www-data:www-data "$out"
# nginx reopens /dev/stdout for its access log: let the unprivileged user open the container's log pipe.
chown --dereference www-data /proc/self/fd/1 /proc/self/fd/2

exec setpriv --reuid=www-data --regid=www-data --init-groups \
    --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"

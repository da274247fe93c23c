#!/bin/bash
# Entry point: turn the install's secrets (readable only by root here: Compose mounts them with the
# host's ownership) into nginx's password file and per-app credentials, then drop every privilege.
set -euo pipefail
# shellcheck source=../foundation/entrypoint.sh
. /usr/local/lib/tm351/entrypoint.sh

secrets=/run/secrets
out=/run/gateway

password_file=$secrets/password
if [ ! -s "$password_file" ]; then
    echo "No login password: mount the install's password as the secret $password_file." >&2
    exit 1
fi

umask 077
stored=$(tr -d '[:space:]' < "$password_file")
if [[ $stored =~ ^[$]2[aby][$] ]]; then
    # A bcrypt hash (an instance's user-data carries only that); a generated password never starts with '$'.
    hash=$stored
else
    hash=$(openssl passwd -6 -stdin < "$password_file")
fi
printf '%s:%s\n' "$GATEWAY_USER" "$hash" > "$out/htpasswd"
# The login as the browser sends it, when the gateway knows the password itself (the login's throttle lets it
# pass unthrottled).
known_login=
[ "$hash" = "$stored" ] || known_login="Basic $(printf '%s:%s' "$GATEWAY_USER" "$stored" | base64 -w0)"

# The server's listen directives: plain HTTP, or HTTPS with a second server on the plain port that only
# redirects (and serves ACME's HTTP challenge), so the login never crosses the network in the clear.
rm -rf "$out/tls" "$out/redirect.conf"
if [ "${GATEWAY_TLS:-off}" = on ]; then
    for file in cert.pem key.pem; do
        if [ ! -s "/run/tls/$file" ]; then
            echo "GATEWAY_TLS=on, but there is no /run/tls/$file: mount the host's certificate and key there." >&2
            exit 1
        fi
    done
    install -d -m 0700 "$out/tls"
    install -m 0600 /run/tls/cert.pem /run/tls/key.pem "$out/tls/"
    cat > "$out/listen.conf" <<CONF
listen 8443 ssl;
ssl_certificate $out/tls/cert.pem;
ssl_certificate_key $out/tls/key.pem;
ssl_protocols TLSv1.2 TLSv1.3;
add_header Strict-Transport-Security "max-age=31536000" always;
CONF
    cat > "$out/redirect.conf" <<CONF
server {
    listen $GATEWAY_PORT;
    server_tokens off;

    location /.well-known/acme-challenge/ {
        root /run/acme;
        default_type text/plain;
    }

    location / {
        return 301 https://\$host\$request_uri;
    }
}
CONF
else
    printf 'listen %s;\n' "$GATEWAY_PORT" > "$out/listen.conf"
fi

# Each other secret is an app's own token. The gateway vouches for the student's login with it, in a
# header of its own that the app reads (images/gateway/routes.conf.j2); on that app's route the token is a
# login too ("Authorization: token ..." or ?token=), as a script that was given it sends it.
: > "$out/maps.conf"
tokens=()
for secret in "$secrets"/*; do
    name=$(basename "$secret")
    [ "$name" = password ] && continue
    token=$(tr -d '[:space:]' < "$secret")
    tokens+=("$token")
    # An nginx variable, read where the route sets the login header.
    printf 'set $%s "%s";\n' "tm351_token_$name" "$token" > "$out/token-$name.conf"
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

# The login's throttle (nginx.conf): a request passes unthrottled when it carries a login this gateway knows to be
# right (the password, an app token, or the cookie the gateway gives with every answer to a logged-in request);
# every other request counts against its client's address. The cookie is new at every start.
cookie=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
secure=
[ "${GATEWAY_TLS:-off}" = on ] && secure="; Secure"
known_headers=${known_login:+"    \"$known_login\" \"\";"$'\n'}
known_arguments=
for token in "${tokens[@]}"; do
    known_headers+="    \"token $token\" \"\";"$'\n'
    known_arguments+="    \"$token\" \"\";"$'\n'
done
cat > "$out/throttle.conf" <<MAPS
map \$host \$tm351_login_cookie {
    default "tm351_login=$cookie; Path=/; HttpOnly; SameSite=Strict$secure";
}
map \$cookie_tm351_login \$tm351_unknown_cookie {
    default \$binary_remote_addr;
    "$cookie" "";
}
map \$http_authorization \$tm351_unknown_header {
    default \$tm351_unknown_cookie;
$known_headers}
map \$arg_token \$tm351_unknown_login {
    default \$tm351_unknown_header;
$known_arguments}
MAPS
# The routes, when they come in the environment rather than as a file in conf.d (nginx.conf includes both).
rm -f "$out/routes.conf"
if [ -n "${GATEWAY_ROUTES:-}" ]; then
    printf '%s\n' "$GATEWAY_ROUTES" > "$out/routes.conf"
fi
unset GATEWAY_ROUTES
chown -R www-data:www-data "$out"
# nginx reopens /dev/stdout for its access log: let the unprivileged user open the container's log pipe.
chown --dereference www-data /proc/self/fd/1 /proc/self/fd/2

tm351_drop_to www-data
exec "${as_user[@]}" "$@"

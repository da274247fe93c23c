#!/usr/bin/env bash
# Where a student running this VM looks: the login prompt of every console (/etc/issue.d) and the serial console.
# Usage: banner.sh login   after the secrets exist: the address and the password (on the serial console once a boot)
#        banner.sh ready   after the stack started: the TM351-PROVISION line that says the machine is ready,
#                          and /run/tm351-ready (vagrant/release/boxes.py READY_FILE) for whoever waits on it
# The password stays out of the journal.
set -euo pipefail

# shellcheck source=/dev/null
. /usr/local/lib/tm351/release.env
# shellcheck source=/dev/null
. /opt/tm351/settings.env
shown=/run/tm351-login-shown

serial() {
    if [ -w /dev/ttyS0 ]; then echo "$*" >/dev/ttyS0 2>/dev/null || true; fi
}

case "${1:-}" in
    login)
        password=$(cat "$TM351_SECRETS_DIR/$TM351_LOGIN_SECRET")
        install -d -m 0755 /etc/issue.d
        (
            umask 077
            printf 'TM351 %s %s: open %s on this computer\nand log in as student with the password %s\n\n' \
                "$TM351_RECIPE" "$TM351_VERSION" "$TM351_URL" "$password" >/etc/issue.d/tm351.issue
        )
        agetty --reload 2>/dev/null || true
        if [ ! -e "$shown" ]; then
            serial "TM351-LOGIN: open $TM351_URL and log in as student with the password $password"
            touch "$shown"
        fi
        ;;
    ready)
        line="TM351-PROVISION: OK: the stack is up at $TM351_URL"
        logger -t tm351-provision "$line"
        serial "$line"
        touch /run/tm351-ready
        ;;
    *)
        echo "usage: $0 login|ready" >&2
        exit 2
        ;;
esac

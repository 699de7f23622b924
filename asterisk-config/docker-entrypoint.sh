#!/bin/sh
# Render the asterisk-config templates ({{NAME}} placeholders) from the environment into
# /etc/asterisk, then run Asterisk in the foreground. The sandbox does the same in Python
# (voxlancer/asterisk/instance.py); tests/unit/test_compose.py checks both fill every placeholder.
set -eu

: "${VOXLANCER_ARI_PASSWORD:?set VOXLANCER_ARI_PASSWORD (16+ characters)}"
: "${VOXLANCER_SOFTPHONE_PASSWORD:?set VOXLANCER_SOFTPHONE_PASSWORD (12+ characters)}"
# The same minimums the Python settings enforce in production: a short SIP password is guessed.
if [ "${#VOXLANCER_ARI_PASSWORD}" -lt 16 ] || [ "${#VOXLANCER_SOFTPHONE_PASSWORD}" -lt 12 ]; then
    echo "VOXLANCER_ARI_PASSWORD needs 16+ and VOXLANCER_SOFTPHONE_PASSWORD 12+ characters" >&2
    exit 1
fi

TEMPLATES=/usr/share/voxlancer/asterisk-config
ETC=/etc/asterisk
MODULES=$(ls -d /usr/lib/*/asterisk/modules | head -n 1)

SCRIPT=""
render() {
    # Escape what sed treats specially in a replacement: backslash, & and the | delimiter.
    value=$(printf '%s' "$2" | sed -e 's/[\\&|]/\\&/g')
    SCRIPT="${SCRIPT}s|{{$1}}|${value}|g;"
}
render ETC_DIR "$ETC"
render MOD_DIR "$MODULES"
render LIB_DIR /var/lib/asterisk
render SPOOL_DIR /var/spool/asterisk
render RUN_DIR /var/run/asterisk
render LOG_DIR /var/log/asterisk
render CACHE_DIR /var/cache/asterisk
render ARI_BIND "${VOXLANCER_ARI_BIND:-0.0.0.0}"
render ARI_PORT "${VOXLANCER_ARI_PORT:-8088}"
render ARI_USER "${VOXLANCER_ARI_USER:-voxlancer}"
render ARI_PASSWORD "$VOXLANCER_ARI_PASSWORD"
render ARI_APP "${VOXLANCER_ARI_APP:-voxlancer}"
render SIP_BIND "${VOXLANCER_SIP_BIND:-0.0.0.0}"
render SIP_PORT "${VOXLANCER_SIP_PORT:-5060}"
render RTP_START "${VOXLANCER_RTP_START:-10000}"
render RTP_END "${VOXLANCER_RTP_END:-14999}"
render SIM_CONTACT "${VOXLANCER_SIM_CONTACT:-sip:127.0.0.1:5070}"
render SOFTPHONE_PASSWORD "$VOXLANCER_SOFTPHONE_PASSWORD"
# Phones reach the container through Docker's NAT: answer them where REGISTER came from.
render SOFTPHONE_REWRITE_CONTACT "${VOXLANCER_SOFTPHONE_REWRITE_CONTACT:-yes}"
render TRUNK "${VOXLANCER_TRUNK:-sim}"
render RING_TIMEOUT "${VOXLANCER_RING_TIMEOUT:-30}"
# Asterisk's call records go to the Voxlancer database (cdr_pgsql.conf, table asterisk_cdr).
render CDR_HOST "${VOXLANCER_CDR_HOST:-postgres}"
render CDR_PORT "${VOXLANCER_CDR_PORT:-5432}"
render CDR_DBNAME "${VOXLANCER_CDR_DBNAME:-voxlancer}"
render CDR_USER "${VOXLANCER_CDR_USER:-voxlancer}"
render CDR_PASSWORD "${VOXLANCER_CDR_PASSWORD:-}"

# Only our files: the package's sample configs would load modules and accounts we do not want.
rm -f "$ETC"/*.conf
for template in "$TEMPLATES"/*.conf; do
    target="$ETC/$(basename "$template")"
    sed -e "$SCRIPT" "$template" > "$target"
    chmod 0640 "$target"
done
if grep -l '{{[A-Z_]*}}' "$ETC"/*.conf; then
    echo "voxlancer-asterisk: placeholders left unrendered in the files above" >&2
    exit 1
fi
mkdir -p /var/lib/asterisk/keys /var/spool/asterisk /var/run/asterisk /var/log/asterisk \
    /var/cache/asterisk

exec /usr/sbin/asterisk -f -C "$ETC/asterisk.conf"

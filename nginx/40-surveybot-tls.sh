#!/bin/sh
# surveybot: official nginx image entrypoint hook (/docker-entrypoint.d/40-surveybot-tls.sh, runs
# after 20-envsubst-on-templates.sh). Renders the HTTPS server when a certificate is mounted:
#   ${SURVEYBOT_TLS_DIR:-/etc/nginx/tls}/fullchain.pem and privkey.pem present
#     -> ${SURVEYBOT_CONF_DIR:-/etc/nginx/conf.d}/surveybot_https.conf from
#        ${SURVEYBOT_HTTPS_TEMPLATE:-/etc/nginx/surveybot-https.conf.template}
#   otherwise -> no HTTPS server (a stale one from an earlier start is removed).
# Only SURVEYBOT_* variables are substituted, so nginx's own $variables survive.
set -eu

log() {
    if [ -z "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ]; then
        echo "$0: $*"
    fi
}

SURVEYBOT_TLS_DIR=${SURVEYBOT_TLS_DIR:-/etc/nginx/tls}
SURVEYBOT_HTTPS_PORT=${SURVEYBOT_HTTPS_PORT:-443}
export SURVEYBOT_TLS_DIR SURVEYBOT_HTTPS_PORT
template=${SURVEYBOT_HTTPS_TEMPLATE:-/etc/nginx/surveybot-https.conf.template}
out_dir=${SURVEYBOT_CONF_DIR:-/etc/nginx/conf.d}
# Sorts after surveybot.conf (conf.d/*.conf is read in byte order), which defines the log format.
out="$out_dir/surveybot_https.conf"

if [ ! -r "$SURVEYBOT_TLS_DIR/fullchain.pem" ] || [ ! -r "$SURVEYBOT_TLS_DIR/privkey.pem" ]; then
    rm -f "$out"
    log "no certificate in $SURVEYBOT_TLS_DIR (fullchain.pem, privkey.pem): HTTPS disabled"
    exit 0
fi
if [ ! -r "$template" ]; then
    echo "$0: error: certificate found but $template is missing" >&2
    exit 1
fi
if [ ! -w "$out_dir" ]; then
    echo "$0: error: $out_dir is not writable" >&2
    exit 1
fi

# The names of every defined SURVEYBOT_* variable, as envsubst's SHELL-FORMAT ('${A} ${B}').
names=$(awk 'END { for (name in ENVIRON) if (name ~ /^SURVEYBOT_/) printf "${%s} ", name }' </dev/null)
envsubst "$names" <"$template" >"$out"
log "HTTPS on port $SURVEYBOT_HTTPS_PORT with the certificate in $SURVEYBOT_TLS_DIR -> $out"

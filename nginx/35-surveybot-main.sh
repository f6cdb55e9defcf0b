#!/bin/sh
# surveybot: official nginx image entrypoint hook (/docker-entrypoint.d/35-surveybot-main.sh, runs
# after 20-envsubst-on-templates.sh). Replaces the image's nginx.conf by surveybot's main
# configuration, the one the native stack runs (worker processes, connections, file limit):
#   ${SURVEYBOT_MAIN_TEMPLATE:-/etc/nginx/surveybot-main.conf.template} (nginx/main.conf.template)
#     -> ${SURVEYBOT_MAIN_CONF:-/etc/nginx/nginx.conf}
# Only SURVEYBOT_* variables are substituted; compose defines every one the template names.
set -eu

log() {
    if [ -z "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ]; then
        echo "$0: $*"
    fi
}

template=${SURVEYBOT_MAIN_TEMPLATE:-/etc/nginx/surveybot-main.conf.template}
out=${SURVEYBOT_MAIN_CONF:-/etc/nginx/nginx.conf}

if [ ! -r "$template" ]; then
    echo "$0: error: $template is missing" >&2
    exit 1
fi

# The names of every defined SURVEYBOT_* variable, as envsubst's SHELL-FORMAT ('${A} ${B}').
names=$(awk 'END { for (name in ENVIRON) if (name ~ /^SURVEYBOT_/) printf "${%s} ", name }' </dev/null)
envsubst "$names" <"$template" >"$out.surveybot"
mv "$out.surveybot" "$out"
log "main configuration from $template -> $out"

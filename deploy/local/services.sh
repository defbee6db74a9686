#!/usr/bin/env bash
# Start / stop omni's six services in the background against the local infrastructure.
#   deploy/local/services.sh up [name...]    start what is not running, wait for every /readyz
#   deploy/local/services.sh down [name...]  SIGTERM (graceful drain), then SIGKILL after 20 s
#   deploy/local/services.sh kill9 NAME      kill -9 one service (fault tests)
# pid files: .run/<name>.pid, logs: .run/<name>.log
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUN=${OMNI_RUN_DIR:-$ROOT/.run}
PY=${OMNI_PYTHON:-$ROOT/.venv/bin/python}
mkdir -p "$RUN"

declare -A PORT=([ingest_email]=8001 [ingest_chat]=8002 [ingest_social]=8003 [router]=8004 [sla]=8005 [analytics]=8006)
ALL=(router sla analytics ingest_email ingest_chat ingest_social)

log() { printf '[services] %s\n' "$*" >&2; }
alive() { [[ -f "$RUN/$1.pid" ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }
present() { [[ -d "$ROOT/services/$1/src/omni_$1" ]] && [[ -f "$ROOT/services/$1/src/omni_$1/__main__.py" ]]; }

export KAFKA_BOOTSTRAP_SERVERS=${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092}
export DATABASE_URL=${DATABASE_URL:-postgresql://omni:omni@127.0.0.1:5432/omni}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
export OMNI_API_TOKEN=${OMNI_API_TOKEN:-dev-token}
export OMNI_ROUTING_CONFIG=${OMNI_ROUTING_CONFIG:-$ROOT/config/routing.yaml}
export OMNI_SLA_CONFIG=${OMNI_SLA_CONFIG:-$ROOT/config/sla.yaml}
# Development channel secrets; the simulator signs with the same ones. Override in production.
export TWILIO_AUTH_TOKEN=${TWILIO_AUTH_TOKEN:-dev-twilio-token}
export META_APP_SECRET=${META_APP_SECRET:-dev-meta-secret}
export META_VERIFY_TOKEN=${META_VERIFY_TOKEN:-dev-meta-verify}
export LINE_CHANNEL_SECRET=${LINE_CHANNEL_SECRET:-dev-line-secret}
export TELEGRAM_SECRET_TOKEN=${TELEGRAM_SECRET_TOKEN:-dev-telegram-secret}
export X_CONSUMER_SECRET=${X_CONSUMER_SECRET:-dev-x-secret}
export MAILGUN_SIGNING_KEY=${MAILGUN_SIGNING_KEY:-dev-mailgun-key}
export SENDGRID_INBOUND_USER=${SENDGRID_INBOUND_USER:-dev-sendgrid}
export SENDGRID_INBOUND_PASSWORD=${SENDGRID_INBOUND_PASSWORD:-dev-sendgrid-password}
export OMNI_PUBLIC_BASE_URL=${OMNI_PUBLIC_BASE_URL:-}

start() {
  local name=$1
  if alive "$name"; then log "$name already running (pid $(cat "$RUN/$name.pid"))"; return; fi
  if ! present "$name"; then log "$name is not built yet; skipping"; return; fi
  if (exec 3<>"/dev/tcp/127.0.0.1/${PORT[$name]}") 2>/dev/null; then
    log "port ${PORT[$name]} for $name is taken by a process without a pid file in $RUN; stop it first"; return 1
  fi
  log "starting $name on :${PORT[$name]}"
  HTTP_PORT=${PORT[$name]} SERVICE_NAME=$name nohup "$PY" -m "omni_$name" >>"$RUN/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
}

wait_ready() {
  local name=$1 i
  present "$name" || return 0
  for ((i = 0; i < 600; i++)); do
    if ! alive "$name"; then log "$name exited; last log lines:"; tail -n 40 "$RUN/$name.log" >&2; return 1; fi
    if curl -fsS -o /dev/null "http://127.0.0.1:${PORT[$name]}/readyz" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "$name not ready after 60 s; last log lines:"; tail -n 40 "$RUN/$name.log" >&2; return 1
}

stop() {
  local name=$1 pid
  alive "$name" || { rm -f "$RUN/$name.pid"; return 0; }
  pid=$(cat "$RUN/$name.pid")
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$RUN/$name.pid"
}

cmd=${1:-up}; shift || true
names=("$@"); ((${#names[@]})) || names=("${ALL[@]}")
case "$cmd" in
  up) for n in "${names[@]}"; do start "$n"; done
      for n in "${names[@]}"; do wait_ready "$n"; done
      log "ready: $(for n in "${names[@]}"; do present "$n" && printf '%s:%s ' "$n" "${PORT[$n]}"; done)" ;;
  down) for n in "${names[@]}"; do stop "$n"; done ;;
  kill9) for n in "${names[@]}"; do alive "$n" && kill -KILL "$(cat "$RUN/$n.pid")"; rm -f "$RUN/$n.pid"; done ;;
  status) for n in "${ALL[@]}"; do if alive "$n"; then echo "$n up :${PORT[$n]}"; else echo "$n down"; fi; done ;;
  *) echo "usage: $0 up|down|kill9|status [name...]" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Real Kafka (KRaft, from Maven Central jars), PostgreSQL and Redis on this machine, no Docker.
#   deploy/local/infra.sh up      install what is missing, start what is not running (idempotent)
#   deploy/local/infra.sh down    stop what we started
#   deploy/local/infra.sh status  one line per server
#   deploy/local/infra.sh clean   down, then delete all local data (not the cached jars)
# State lives in $OMNI_RUN_DIR (default .run/): data, pid files, logs. Kafka's jars are cached
# in $OMNI_CACHE_DIR (default ~/.cache/omni) so a second run needs no network.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUN=${OMNI_RUN_DIR:-$ROOT/.run}
CACHE=${OMNI_CACHE_DIR:-$HOME/.cache/omni}
KAFKA_VERSION=4.1.1
KAFKA_LIBS=$CACHE/kafka-$KAFKA_VERSION/libs
KAFKA_PORT=${OMNI_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1))
PG_PORT=${OMNI_PG_PORT:-5432}
REDIS_PORT=${OMNI_REDIS_PORT:-6379}
mkdir -p "$RUN"
if [[ ${1:-up} != status ]]; then
  # One changing invocation at a time: two concurrent starts would run two Kafka brokers on one data
  # directory and corrupt its metadata log. The servers get `9>&-`, so they do not inherit the lock.
  exec 9>"$RUN/.infra.lock"
  flock 9
fi

log() { printf '[infra] %s\n' "$*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # name port pidfile seconds
  local i
  for ((i = 0; i < $4 * 10; i++)); do
    port_open "$2" && return 0
    if [[ -n "$3" && -f "$3" ]] && ! kill -0 "$(cat "$3")" 2>/dev/null; then
      log "$1 exited during start-up; see $RUN/$1.log"; tail -n 30 "$RUN/$1.log" >&2 || true; return 1
    fi
    sleep 0.1
  done
  log "$1 did not open port $2 within $4 s; see $RUN/$1.log"; return 1
}

apt_install() {
  log "installing Debian packages: $*"
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  if [[ ! -f "$RUN/.apt-updated" ]]; then $SUDO apt-get update -q >/dev/null && touch "$RUN/.apt-updated"; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

ensure_installed() {
  local missing=()
  command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || [[ -d "$KAFKA_LIBS" ]] || missing+=(maven)
  command -v redis-server >/dev/null || missing+=(redis-server)
  [[ -n "$(pg_bin)" ]] || missing+=(postgresql)
  command -v promtool >/dev/null || missing+=(prometheus)
  if ((${#missing[@]})); then apt_install "${missing[@]}"; fi
  if [[ ! -f "$KAFKA_LIBS/.complete" ]]; then
    log "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS"
    rm -rf "$KAFKA_LIBS"; mkdir -p "$KAFKA_LIBS"
    mvn -q -B -f "$ROOT/deploy/local/kafka/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS" -Dkafka.version="$KAFKA_VERSION"
    touch "$KAFKA_LIBS/.complete"
  fi
}

start_kafka() {
  if port_open "$KAFKA_PORT"; then log "kafka already listening on $KAFKA_PORT"; return; fi
  local dir=$RUN/kafka
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=3
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.cleaner.dedupe.buffer.size=16777216
log.flush.interval.messages=9223372036854775807
PROPS
  cat >"$dir/log4j2.properties" <<'PROPS'
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.server.name = kafka.server.KafkaServer
logger.server.level = INFO
PROPS
  if [[ ! -f "$dir/data/meta.properties" ]]; then
    local cluster_id
    cluster_id=$(java -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    java -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format --standalone -t "$cluster_id" \
      -c "$dir/server.properties" >>"$RUN/kafka.log" 2>&1
  fi
  log "starting kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT"
  nohup java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" -Dkafka.logs.dir="$dir" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties" >>"$RUN/kafka.log" 2>&1 9>&- &
  echo $! >"$RUN/kafka.pid"
  wait_port kafka "$KAFKA_PORT" "$RUN/kafka.pid" 90
}

as_postgres() { if [[ $(id -u) -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }

# PostgreSQL refuses to run as root, so as root it runs as the `postgres` user, which must be able
# to reach its data directory. A checkout under a private directory (mktemp's 0700, say) is out of
# its reach; then the data lives in /var/tmp, named after this run directory.
if [[ $(id -u) -eq 0 ]] && ! runuser -u postgres -- test -x "$RUN" 2>/dev/null; then
  PGDIR=${OMNI_PG_DIR:-/var/tmp/omni-postgres-$(printf %s "$RUN" | sha1sum | cut -c1-10)}
  PGLOG=$PGDIR.log
else
  PGDIR=${OMNI_PG_DIR:-$RUN/postgres}
  PGLOG=$RUN/postgres.log
fi

start_postgres() {
  local bin dir=$PGDIR
  bin=$(pg_bin)
  if port_open "$PG_PORT"; then log "postgresql already listening on $PG_PORT"; ensure_database; return; fi
  if [[ ! -f "$dir/PG_VERSION" ]]; then
    mkdir -p "$dir"; [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$dir"; chmod 700 "$dir"
    touch "$PGLOG"; [[ $(id -u) -eq 0 ]] && chown postgres "$PGLOG"
    [[ "$PGLOG" == "$RUN/postgres.log" ]] || ln -sfn "$PGLOG" "$RUN/postgres.log"
    as_postgres "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >>"$PGLOG" 2>&1
    cat >>"$dir/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '/tmp'
max_connections = 300
shared_buffers = 256MB
fsync = on
synchronous_commit = on
logging_collector = off
CONF
  fi
  touch "$PGLOG"; [[ $(id -u) -eq 0 ]] && chown postgres "$PGLOG"
  log "starting postgresql on 127.0.0.1:$PG_PORT"
  as_postgres "$bin/pg_ctl" -D "$dir" -l "$PGLOG" -w -t 60 start >/dev/null 9>&-
  head -n 1 "$dir/postmaster.pid" >"$RUN/postgres.pid"
  ensure_database
}

ensure_database() {
  local psql=(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qtA)
  if ! "${psql[@]}" -c "select 1 from pg_roles where rolname='omni'" | grep -q 1; then
    "${psql[@]}" -c "create role omni login superuser password 'omni'"
  fi
  if ! "${psql[@]}" -c "select 1 from pg_database where datname='omni'" | grep -q 1; then
    "${psql[@]}" -c "create database omni owner omni"
  fi
}

start_redis() {
  if port_open "$REDIS_PORT"; then log "redis already listening on $REDIS_PORT"; return; fi
  mkdir -p "$RUN/redis"
  log "starting redis on 127.0.0.1:$REDIS_PORT"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$RUN/redis" --appendonly yes \
    --appendfsync everysec --save "" --daemonize yes --pidfile "$RUN/redis.pid" --logfile "$RUN/redis.log" 9>&-
  wait_port redis "$REDIS_PORT" "" 20
}

stop_pidfile() { # name pidfile
  local pid
  [[ -f "$2" ]] || return 0
  pid=$(cat "$2")
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $1 (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { log "$1 did not stop in 30 s; killing"; kill -KILL "$pid" 2>/dev/null || true; }
  fi
  rm -f "$2"
}

case "${1:-up}" in
  up)
    ensure_installed
    start_redis
    start_postgres
    start_kafka
    log "kafka 127.0.0.1:$KAFKA_PORT, postgresql postgresql://omni:omni@127.0.0.1:$PG_PORT/omni, redis redis://127.0.0.1:$REDIS_PORT/0"
    ;;
  install) ensure_installed ;;
  clean) "$0" down; rm -rf "$PGDIR" "$PGLOG" "$RUN" ;;
  down)
    stop_pidfile kafka "$RUN/kafka.pid"
    if [[ -f "$PGDIR/postmaster.pid" ]]; then
      log "stopping postgresql"; as_postgres "$(pg_bin)/pg_ctl" -D "$PGDIR" -m fast -w stop >/dev/null || true
    fi
    rm -f "$RUN/postgres.pid"
    stop_pidfile redis "$RUN/redis.pid"
    ;;
  restart-kafka) stop_pidfile kafka "$RUN/kafka.pid"; start_kafka ;;
  stop-kafka) stop_pidfile kafka "$RUN/kafka.pid" ;;
  start-kafka) start_kafka ;;
  restart-postgres) as_postgres "$(pg_bin)/pg_ctl" -D "$PGDIR" -m fast -w restart -l "$PGLOG" >/dev/null 9>&- ;;
  restart-redis) stop_pidfile redis "$RUN/redis.pid"; start_redis ;;
  status)
    for s in "kafka $KAFKA_PORT" "postgres $PG_PORT" "redis $REDIS_PORT"; do
      set -- $s; if port_open "$2"; then echo "$1 up :$2"; else echo "$1 down :$2"; fi
    done
    ;;
  *) echo "usage: $0 up|down|clean|status|install|restart-kafka|stop-kafka|start-kafka|restart-postgres|restart-redis" >&2; exit 2 ;;
esac

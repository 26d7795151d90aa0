#!/usr/bin/env bash
# Three replicas of the FER service behind HAProxy, scraped by Prometheus, on one machine: what
# a cluster does, in miniature (tests/deploy/test_deploy_replicas.py runs the same files).
#   http://127.0.0.1:8000        the service, through HAProxy (/predict, /stream, /docs, ...)
#   http://127.0.0.1:8404/stats  HAProxy's view of the replicas
#   http://127.0.0.1:9090        Prometheus (Status > Targets: one target per replica)
# Needs Debian's haproxy and prometheus (apt-get install haproxy prometheus) and `make install`.
# Ctrl-C stops everything. Logs: build/replicas/.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
REPLICAS=3
LOGS=build/replicas
mkdir -p "$LOGS"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait' EXIT INT TERM

for i in $(seq 1 "$REPLICAS"); do
    # One ONNX Runtime thread each: three replicas share this machine's cores.
    FER_PORT=$((8000 + i)) FER_ORT_INTRA_OP_THREADS=1 FER_LOG_FORMAT=json \
        "$PY" -m service >"$LOGS/replica-$i.log" 2>&1 &
    pids+=($!)
    export "FER_REPLICA_$i=127.0.0.1:$((8000 + i))"
done
FER_LB_BIND=127.0.0.1:8000 FER_LB_STATS_BIND=127.0.0.1:8404 \
    haproxy -db -f deploy/local/haproxy.cfg >"$LOGS/haproxy.log" 2>&1 &
pids+=($!)
prometheus --config.file=deploy/local/prometheus.yml --storage.tsdb.path="$LOGS/prometheus" \
    --web.listen-address=127.0.0.1:9090 >"$LOGS/prometheus.log" 2>&1 &
pids+=($!)
echo "replicas on :8001-:$((8000 + REPLICAS)), HAProxy on :8000 (stats :8404/stats), Prometheus on :9090"
echo "replica pids: ${pids[*]:0:$REPLICAS}   (kill one and watch :8404/stats; run.sh does not restart it)"
wait

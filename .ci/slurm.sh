#!/usr/bin/env bash
# slurm.sh: throwaway one-node Slurm (Debian 12 slurm-wlm 22.05) for the Slurm executor's tests. Run as root.
#   .ci/slurm.sh up | smoke | down   (no systemd, cgroups or Docker needed; `up` again is a no-op)
# From ../shared/ci/slurm-ci.sh, plus a second partition `urgent` of a higher PriorityTier that preempts
# `debug` (PreemptMode=REQUEUE: tasks submitted with --no-requeue are cancelled, state PREEMPTED).
# SLURM_CI_DBD=0 skips MariaDB+slurmdbd; then sacct fails, and the executor (like submitit) cannot tell
# how a task that died without its outcome ended: its tests need accounting.
set -euo pipefail
R=${SLURM_CI_ROOT:-/tmp/slurm-ci}; DBD=${SLURM_CI_DBD:-1}
export SLURM_CONF=$R/etc/slurm.conf DEBIAN_FRONTEND=noninteractive
T0=$(date +%s); ts() { echo "[slurm-ci] +$(( $(date +%s) - T0 ))s $*"; }
bg() { local n=$1; shift; "$@" >"$R/log/$n.log" 2>&1 & echo $! >"$R/run/$n.pid"; }
waitfor() { local w=$1; shift; for _ in $(seq 120); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
            echo "[slurm-ci] timeout waiting for $w" >&2; tail -n 20 "$R"/log/*.log >&2; return 1; }

up() {
  if [ -f "$SLURM_CONF" ] && scontrol ping >/dev/null 2>&1 && sinfo -h -o %T | grep -qxE 'idle|mixed|allocated'; then
    ts "already up: $(sinfo -h -o '%P %D %T %C' | tr '\n' ' ')"; return 0
  fi
  local pk="munge slurmctld slurmd slurm-client"; [ "$DBD" = 1 ] && pk+=" slurmdbd mariadb-server"
  if ! command -v slurmctld slurmd sbatch munged >/dev/null || { [ "$DBD" = 1 ] && ! command -v slurmdbd mariadbd >/dev/null; }; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends $pk >/dev/null
  fi
  ts "packages there"
  mkdir -p "$R"/{etc,log,run,state,spool,out} /run/munge
  chown slurm:slurm "$R/state" "$R/log"; chown munge:munge /run/munge
  local hw; hw=$(env -u SLURM_CONF slurmd -C | head -1 | cut -d' ' -f2-)  # CPUs=.. RealMemory=..
  cat >"$SLURM_CONF" <<EOF
ClusterName=ci
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldParameters=enable_configless
SlurmUser=slurm
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation=$R/state
SlurmdSpoolDir=$R/spool
SlurmctldPidFile=$R/run/slurmctld.pidfile
SlurmdPidFile=$R/run/slurmd.pidfile
JobCompType=jobcomp/filetxt
JobCompLoc=$R/log/jobcomp.txt
AccountingStorageType=accounting_storage/$([ "$DBD" = 1 ] && echo slurmdbd || echo none)
NodeName=localhost NodeAddr=127.0.0.1 $hw
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP PriorityTier=1
PartitionName=urgent Nodes=ALL MaxTime=INFINITE State=UP PriorityTier=2
EOF
  bg munged setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F
  waitfor munged sh -c 'munge -n | unmunge'
  if [ "$DBD" = 1 ]; then
    printf '%s\n' AuthType=auth/munge DbdHost=localhost DbdAddr=127.0.0.1 SlurmUser=slurm \
      PidFile="$R/run/slurmdbd.pidfile" StorageType=accounting_storage/mysql \
      StorageUser=slurm StoragePass=ci >"$R/etc/slurmdbd.conf"
    chown slurm:slurm "$R/etc/slurmdbd.conf"; chmod 600 "$R/etc/slurmdbd.conf"
    mkdir -p /run/mysqld; chown mysql:mysql /run/mysqld
    bg mariadbd /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1
    waitfor mariadbd mariadb-admin ping
    mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'ci';
                GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
    bg slurmdbd /usr/sbin/slurmdbd -D
    waitfor slurmdbd sacctmgr -n show cluster
  fi
  bg slurmctld /usr/sbin/slurmctld -D
  waitfor slurmctld scontrol ping
  # configless: slurmd pulls slurm.conf from slurmctld, and links /run/slurm/conf for clients
  bg slurmd env -u SLURM_CONF /usr/sbin/slurmd -D -N localhost --conf-server 127.0.0.1:6817
  waitfor node-idle sh -c 'sinfo -h -o %T | grep -qx idle'
  ts "cluster up: $(sinfo -h -o '%P %D %T %C')"
}

smoke() {
  local jid
  jid=$(sbatch --parsable --wait --array=0-3 -o "$R/out/%A_%a.out" \
        --wrap 'echo "task $SLURM_ARRAY_TASK_ID on $(hostname)"; sleep 1')
  cat "$R/out/${jid}"_*.out
  [ "$(cat "$R/out/${jid}"_*.out | wc -l)" = 4 ]
  if [ "$DBD" = 1 ]; then
    waitfor sacct sh -c "[ \$(sacct -nX -j $jid -o State | grep -c COMPLETED) = 4 ]"
    sacct -X -j "$jid" -o JobID,State,ExitCode,Elapsed
  fi
  ts "smoke: array $jid completed"
}

down() {
  squeue -h -o %A 2>/dev/null | xargs -r scancel 2>/dev/null || true
  for n in slurmd slurmctld slurmdbd mariadbd munged; do
    f=$R/run/$n.pid; [ -f "$f" ] || continue; p=$(cat "$f")
    kill "$p" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$p" 2>/dev/null && kill -9 "$p"; rm -f "$f"
  done
  rm -rf /run/slurm; ts "down"
}

"${1:?usage: $0 up|smoke|down}"

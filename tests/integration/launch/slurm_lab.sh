#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# slurm_lab.sh up|down DIR: a real Slurm (Debian's slurm-wlm) on this one
# machine for test_launch: munged, slurmctld and three slurmd (n1 n2 n3 at
# 127.0.0.81-83, Debian builds slurmd with MULTIPLE_SLURMD), all under
# DIR (config, state, spool, logs, munge key and socket). `up` waits (60 s
# at most) until the three nodes are idle; `down` stops everything it
# started and whatever the lab's jobs left (found by SLURM_CONF in their
# environment), every wait bounded; safe to run twice. Ports: controller
# SLURM_LAB_PORT (default 16817), nodes the three after it. Needs root.
set -uo pipefail
cmd=${1:?up or down}
L=$(realpath -m "${2:?DIR}")
PORT=${SLURM_LAB_PORT:-16817}
CONF=$L/etc/slurm.conf
export SLURM_CONF=$CONF

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
pidof_file() { [ -s "$1" ] && tr -dc '0-9' <"$1" || true; }
stop_pids() { # TERM, 5 s, then KILL
    local pids="$*" left p
    [ -z "${pids// /}" ] && return 0
    kill -TERM $pids 2>/dev/null
    for _ in $(seq 1 20); do
        left=""
        for p in $pids; do alive "$p" && left="$left $p"; done
        [ -z "$left" ] && return 0
        sleep 0.25
    done
    kill -KILL $left 2>/dev/null
}

down() {
    [ -d "$L" ] || return 0
    if [ -f "$CONF" ] && alive "$(pidof_file "$L/run/slurmctld.pid")"; then
        timeout 5 scancel --quiet --full -u "$(id -un)" 2>/dev/null
        for _ in $(seq 1 10); do
            [ -z "$(timeout 3 squeue -h -o %i 2>/dev/null)" ] && break
            sleep 0.5
        done
    fi
    local pids="" p d e stepd mine=" $$ "
    p=$$ # this script's ancestors (a test that ran jobs carries SLURM_CONF)
    while [ "$p" -gt 1 ] 2>/dev/null; do
        p=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null) || break
        mine="$mine$p "
    done
    for f in "$L"/run/*.pid; do
        [ -e "$f" ] && p=$(pidof_file "$f") && alive "$p" && pids="$pids $p"
    done
    stepd=$(readlink -f /usr/sbin/slurmstepd 2>/dev/null)
    for d in /proc/[0-9]*; do
        p=${d#/proc/}
        case "$mine" in *" $p "*) continue ;; esac
        if [ -n "$stepd" ] && [ "$(readlink "$d/exe" 2>/dev/null)" = "$stepd" ]; then
            ls -l "$d/fd" 2>/dev/null | grep -q " $L/" && pids="$pids $p"
        elif e=$(tr '\0' '\n' 2>/dev/null <"$d/environ"); then
            grep -qx "SLURM_CONF=$CONF" <<<"$e" && pids="$pids $p"
        fi
    done
    stop_pids $pids
    rm -rf "$L"
}

up() {
    down
    local host n i
    host=$(hostname -s)
    mkdir -p "$L"/{etc,state,log,run,munge,spool/n1,spool/n2,spool/n3}
    chmod 755 "$L" "$L/munge" # munged wants o+x on its socket's directory
    mungekey --create --keyfile="$L/munge/munge.key" --force || return 1
    chmod 600 "$L/munge/munge.key"
    munged --socket="$L/munge/munge.socket" --key-file="$L/munge/munge.key" \
        --pid-file="$L/run/munged.pid" --log-file="$L/log/munged.log" \
        --seed-file="$L/munge/munged.seed" || return 1
    for _ in $(seq 1 50); do [ -S "$L/munge/munge.socket" ] && break; sleep 0.1; done
    cat >"$CONF" <<CONF
ClusterName=rayctest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$L/munge/munge.socket
StateSaveLocation=$L/state
SlurmdSpoolDir=$L/spool/%n
SlurmctldPidFile=$L/run/slurmctld.pid
SlurmdPidFile=$L/run/slurmd-%n.pid
SlurmctldLogFile=$L/log/slurmctld.log
SlurmdLogFile=$L/log/slurmd-%n.log
PlugStackConfig=$L/etc/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=2
MessageTimeout=10
InactiveLimit=0
MailProg=/bin/true
NodeName=n1 NodeHostname=$host NodeAddr=127.0.0.81 Port=$((PORT + 1)) CPUs=1 RealMemory=100 State=UNKNOWN
NodeName=n2 NodeHostname=$host NodeAddr=127.0.0.82 Port=$((PORT + 2)) CPUs=1 RealMemory=100 State=UNKNOWN
NodeName=n3 NodeHostname=$host NodeAddr=127.0.0.83 Port=$((PORT + 3)) CPUs=1 RealMemory=100 State=UNKNOWN
PartitionName=lab Nodes=n[1-3] Default=YES MaxTime=INFINITE State=UP
CONF
    : >"$L/etc/plugstack.conf"
    setsid slurmctld -D -c -f "$CONF" >"$L/log/slurmctld.out" 2>&1 </dev/null &
    for n in n1 n2 n3; do
        setsid slurmd -D -N "$n" -f "$CONF" >"$L/log/slurmd-$n.out" 2>&1 </dev/null &
    done
    for _ in $(seq 1 120); do
        [ "$(sinfo -h -N -o '%N %t' 2>/dev/null | sort -u | grep -c ' idle$')" = 3 ] && return 0
        sleep 0.5
    done
    echo "slurm_lab: the nodes were not idle within 60 s" >&2
    tail -n 20 "$L"/log/*.log "$L"/log/*.out >&2
    return 1
}

case $cmd in
up) up ;;
down) down ;;
*) echo "usage: $0 up|down DIR" >&2; exit 2 ;;
esac

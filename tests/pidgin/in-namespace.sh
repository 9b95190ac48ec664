#!/bin/sh
# Runs inside a private network, mount and PID namespace (unshare -mnpf, as root): lyncsim
# serve on 443 (HTTPS and SIP), 80 (Autodiscover's plain HTTP) and 53 (DNS), where
# pidgin-sipe looks; resolv.conf names lyncsim's DNS and /etc/ssl/certs holds only lyncsim's
# root. Then each line of the steps file, in order:
#   signin USER PASSWORD [USER-AGENT]   one pidgin-sipe sign-in (prints sipe-host's outcome;
#                                       each question it was asked is a `prompt N:` line)
#   signin-at SERVER USER PASSWORD      the same, with the account's server set (no discovery)
#   live USER PASSWORD JSON             a sign-in that stays signed in while the fault JSON is
#                                       posted; then pidgin-sipe's clock moves two hours on, so
#                                       that its re-registration comes at once (prints every
#                                       line sipe-host wrote, joined with |)
#   fault JSON                          POST /faults
#   clear                               DELETE /faults
# and the journal at the end. Everything it starts dies with the namespace.
#
# usage: in-namespace.sh WORKDIR LYNCSIM SIPE-HOST SAX1-SHIM STEPS
set -eu
work=$1 lyncsim=$2 host=$3 shim=$4 steps=$5

ip link set lo up
echo "nameserver 127.0.0.1" > "$work/resolv.conf"
mount --bind "$work/resolv.conf" /etc/resolv.conf
"$lyncsim" serve --https-port 443 --http-port 80 --dns-port 53 \
    --ready-file "$work/ready.json" 2> "$work/serve.log" > /dev/null &
i=0
while [ ! -s "$work/ready.json" ]; do
    i=$((i + 1))
    if [ $i -gt 300 ]; then echo "lyncsim serve did not start: $(cat "$work/serve.log")"; exit 3; fi
    sleep 0.1
done
admin=$(sed 's/.*"admin_url":"\([^"]*\)".*/\1/' "$work/ready.json")
mkdir -p "$work/certs"
curl -sS "$admin/ca/root.pem" > "$work/certs/lyncsim-root.pem"
mount --bind "$work/certs" /etc/ssl/certs

# Step N's outcome (sipe-host's lines, joined with |), and a `prompt N:` line for each
# question libpurple asked (sipe-host's `request:` lines).
report() {
    printf "%s\n" "$2" | sed -n "s/^request: /prompt $1: /p"
    printf "step %s: %s\n" "$1" "$(printf "%s\n" "$2" | grep -v '^request: ' | paste -sd '|' -)"
}

n=0
while IFS= read -r line; do
    n=$((n + 1))
    set -- $line
    case "$1" in
    signin)
        rm -rf "$work/home.$n" && mkdir -p "$work/home.$n"
        agent=$(echo "$line" | cut -s -d' ' -f4-)
        out=$(SIPE_HOST_HOME="$work/home.$n" LD_PRELOAD="$shim" "$host" "$2" "$3" "$agent" 40 || true)
        report "$n" "$out"
        ;;
    signin-at)
        rm -rf "$work/home.$n" && mkdir -p "$work/home.$n"
        out=$(SIPE_HOST_SERVER="$2" SIPE_HOST_HOME="$work/home.$n" LD_PRELOAD="$shim" \
            "$host" "$3" "$4" "" 40 || true)
        report "$n" "$out"
        ;;
    live)
        rm -rf "$work/home.$n" && mkdir -p "$work/home.$n"
        cue="$work/cue.$n" out="$work/live.$n"
        mkfifo "$cue"
        SIPE_HOST_STAY=1 SIPE_HOST_HOME="$work/home.$n" LD_PRELOAD="$shim" \
            "$host" "$2" "$3" "" 40 < "$cue" > "$out" &
        pid=$!
        exec 3> "$cue"
        i=0
        # The fault goes in once the sign-in has ended (sipe-host may print a question first).
        while ! grep -q -e '^signed-on' -e '^connection-error' "$out" \
            && kill -0 "$pid" 2> /dev/null && [ $i -lt 400 ]; do
            i=$((i + 1))
            sleep 0.1
        done
        json=$(echo "$line" | cut -d' ' -f4-)
        curl -sS -X POST -H 'content-type: application/json' --data-binary "$json" \
            "$admin/faults" > /dev/null
        echo "advance 7200" >&3
        wait "$pid" || true
        exec 3>&-
        report "$n" "$(cat "$out")"
        ;;
    fault)
        json=${line#fault }
        printf "step %s: %s\n" "$n" "$(curl -sS -X POST -H 'content-type: application/json' --data-binary "$json" "$admin/faults")"
        ;;
    clear)
        printf "step %s: %s\n" "$n" "$(curl -sS -X DELETE "$admin/faults")"
        ;;
    esac
done < "$steps"
echo "journal: $(curl -sS "$admin/journal")"

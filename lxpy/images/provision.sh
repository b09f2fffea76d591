#!/bin/sh
# Written by lxpy create (--provision): runs this machine's provisioning scripts once, at its
# first boot, after eth0 has a default route. Each script runs with its #! interpreter (sh
# without one) as root in /root; the output goes to the console (`lxpy console NAME --log`).
# The status file says how far it got, for `lxpy info` and `lxpy launch`:
#   step NAME | done | failed NAME EXIT | failed NAME interrupted
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
dir=/var/lib/lxpy/provision
[ -e "$dir/pending" ] || exit 0

say() {
    echo "$1" > "$dir/status.new" && mv -f "$dir/status.new" "$dir/status"
}

case "$(cat "$dir/status" 2>/dev/null)" in
    step\ *)  # the machine stopped while a script ran: it is not run again
        step=$(cut -d' ' -f2 "$dir/status")
        say "failed $step interrupted"
        rm -f "$dir/pending"
        echo "lxpy provision: $step was interrupted by a stop; not run again"
        exit 1
        ;;
esac

if [ -e /sys/class/net/eth0 ]; then
    tries=0
    while [ "$tries" -lt 30 ] && ! grep -q '^eth0[[:space:]]00000000' /proc/net/route; do
        sleep 1
        tries=$((tries + 1))
    done
fi

cd /root 2>/dev/null || cd /
export HOME=/root
for script in "$dir"/scripts/*; do
    [ -f "$script" ] || continue
    step=${script##*/}
    say "step $step"
    echo "lxpy provision: running $step"
    if [ "$(head -c 2 "$script")" = "#!" ]; then
        "$script"
    else
        sh "$script"
    fi
    code=$?
    if [ "$code" -ne 0 ]; then
        say "failed $step $code"
        rm -f "$dir/pending"
        echo "lxpy provision: $step failed (exit status $code)"
        exit 1
    fi
done
say done
rm -f "$dir/pending"
echo "lxpy provision: done"

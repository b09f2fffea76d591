#!/bin/sh
# Written by lxpy create (--cloud-init, --provision): this machine's provisioning, once, at its
# first boot, after eth0 has a default route. First cloud-init, when lxpy seeded it with
# user-data: cloud-init runs as the system's own services, this waits for it to finish. Then
# the scripts, each with its #! interpreter (sh without one) as root in /root. The output goes
# to the console (`lxpy console NAME --log`).
# The status file says how far it got, for `lxpy info` and `lxpy launch`:
#   step NAME | done | failed NAME EXIT | failed NAME interrupted
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
dir=/var/lib/lxpy/provision
[ -e "$dir/pending" ] || exit 0

say() {
    echo "$1" > "$dir/status.new" && mv -f "$dir/status.new" "$dir/status"
}

failed() {  # STEP EXIT
    say "failed $1 $2"
    rm -f "$dir/pending"
    echo "lxpy provision: $1 failed (exit status $2)"
    exit 1
}

# The exit status of the first of cloud-init's scripts (runcmd, #! user-data) that failed,
# from its log (subp's "Command: [...]" then "Exit code: N"); empty if none did.
cloud_script_status() {
    awk '/^Command: \[.\/var\/lib\/cloud\/instance\/scripts\// { getline
        if ($1 == "Exit" && $2 == "code:") { print $3; exit } }' /var/log/cloud-init.log
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

if [ -e /var/lib/cloud/seed/nocloud/user-data ]; then
    say "step cloud-init"
    echo "lxpy provision: waiting for cloud-init"
    cloud-init status --wait > /dev/null
    code=$?
    # 2: done, with errors it recovered from (a deprecated key): done, its log says which.
    if [ "$code" -ne 0 ] && [ "$code" -ne 2 ]; then
        cloud-init status --long
        ran=$(cloud_script_status 2>/dev/null)
        case "$ran" in
            [0-9] | [0-9][0-9] | [0-9][0-9][0-9]) failed cloud-init "$ran" ;;
            *) failed cloud-init "$code" ;;
        esac
    fi
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
    [ "$code" -eq 0 ] || failed "$step" "$code"
done
say done
rm -f "$dir/pending"
echo "lxpy provision: done"

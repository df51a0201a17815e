#!/bin/busybox sh
# /init of the test guest: bring up a minimal system, run /plan.sh, report its status, power off.
# The status line is what the xtask reads; everything else is for people reading the log.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
ip link set lo up
# On the debug kernel, forget what kmemleak suspects from boot, so that a report after the plan
# is about what the plan did (loading, using and unloading the driver).
leaks=/sys/kernel/debug/kmemleak
if [ -w $leaks ]; then
    echo scan=off > $leaks
    echo scan > $leaks
    echo clear > $leaks
fi
echo "compsc-guest: $(uname -r), plan starting"
sh -e /plan.sh
rc=$?
# kmemleak reports an object only once it has been unreferenced for 5 s and seen by two scans.
if [ -w $leaks ]; then
    sleep 6
    echo scan > $leaks
    echo scan > $leaks
    n=$(grep -c "^unreferenced object" $leaks)
    cat $leaks
    echo "COMPSC-KMEMLEAK $n"
fi
echo "COMPSC-PLAN-EXIT $rc"
# `poweroff -f` halts without ACPI power-off and QEMU would not exit; with -no-reboot a reboot
# ends QEMU.
reboot -f

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
echo "compsc-guest: $(uname -r), plan starting"
sh -e /plan.sh
rc=$?
echo "COMPSC-PLAN-EXIT $rc"
# `poweroff -f` halts without ACPI power-off and QEMU would not exit; with -no-reboot a reboot
# ends QEMU.
reboot -f

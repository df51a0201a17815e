# QEMU arguments every test guest gets. One or more arguments per line, split on whitespace;
# `#` starts a comment; ${NAME} is replaced by the xtask (unknown names are an error).
# The accelerator (-accel, -cpu) is chosen by the xtask: TCG unless KVM is proven to boot.
-nodefaults
-no-reboot
-display none
-serial stdio
-smp 2
-m ${MEMORY_MB}

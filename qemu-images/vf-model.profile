# vf-model attached over vfio-user (QEMU 11.1 from the trixie chroot), added to base.profile.
# Guest RAM must be a shared memfd: the model maps it from the file descriptor QEMU passes and
# does its DMA there. The VF sits behind a PCIe root port, as a hot-pluggable VF would.
-machine q35,memory-backend=mem
-object memory-backend-memfd,id=mem,size=${MEMORY_MB}M,share=on
-device pcie-root-port,id=rp1,chassis=1
-device {"driver":"vfio-user-pci","id":"vf0","bus":"rp1","socket":{"type":"unix","path":"${SOCKET}"}}

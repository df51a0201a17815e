//! An emulated Intel 82599 SR-IOV virtual function and the PF it talks to, for testing VF
//! drivers without SR-IOV hardware.
//!
//! The library holds the device semantics and knows nothing of the transport: `Device`
//! is driven through BAR0 reads and writes, reaches guest memory through `GuestMemory`
//! and signals MSI-X through `IrqSink`. `server` puts it behind vfio-user for QEMU,
//! `backend` connects its wire to a tap device, `control` is the test harness's socket.
//!
//! The register semantics are written from the 82599 datasheet and the Linux ixgbe PF's
//! behaviour, independently of the driver under test.

pub mod backend;
pub mod config;
pub mod control;
pub mod device;
pub mod dma;
pub mod doorbell;
pub mod mbx;
pub mod msix;
pub mod net;
pub mod pf;
pub mod queue;
pub mod regs;
pub mod rss;
pub mod rx;
pub mod server;
pub mod tx;
pub mod vf;

pub use device::{Device, DeviceConfig, Faults, ModelStats, Timing};

/// VF device ids whose drivers talk to the PF over the mailbox (82599, X540, X550, X550EM_x,
/// X550EM_a, E610): the ids the model serves with the 82599 VF's register model, and what a
/// `swap` may change to.
pub const SWAP_IDS: &[u16] = &[0x10ED, 0x1515, 0x1565, 0x15A8, 0x15C5, 0x57AD];

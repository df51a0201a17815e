// SPDX-License-Identifier: GPL-2.0

//! What differs in the kernel's Rust API between the series compsc_vf supports, 7.2 and 7.3,
//! and nothing else: the rest of the driver names these items where the two differ. On 7.3
//! each is the kernel's own; on 7.2 (Kbuild sets `--cfg compsc_linux_7_2`) each is the
//! smallest stand-in, with the C it needs in the shim.

use crate::net::VectorIrq;
use kernel::prelude::*;
use kernel::{device::Bound, pci};

/// The id information `pci::Driver::probe` receives: 7.3 passes `None` for a device bound
/// through `driver_override` or `new_id` without a table row; 7.2 always passes a row's.
#[cfg(not(compsc_linux_7_2))]
pub(crate) type ProbeIdInfo<'a, T> = Option<&'a T>;
/// See above.
#[cfg(compsc_linux_7_2)]
pub(crate) type ProbeIdInfo<'a, T> = &'a T;

/// Declares a PCI id table `$name` and its modalias: 7.3's `pci_device_table!` names the
/// modalias table itself, 7.2's takes its name.
#[cfg(not(compsc_linux_7_2))]
macro_rules! pci_table {
    ($name:ident, $($rest:tt)*) => {
        kernel::pci_device_table!($name, $($rest)*);
    };
}
/// See above.
#[cfg(compsc_linux_7_2)]
macro_rules! pci_table {
    ($name:ident, $($rest:tt)*) => {
        kernel::pci_device_table!($name, MODULE_PCI_TABLE, $($rest)*);
    };
}
pub(crate) use pci_table;

/// EOPNOTSUPP (7.2 declares no such code).
pub(crate) fn eopnotsupp() -> Error {
    Error::from_errno(-(kernel::bindings::EOPNOTSUPP as i32))
}

/// ENETDOWN (7.2 declares no such code).
pub(crate) fn enetdown() -> Error {
    Error::from_errno(-(kernel::bindings::ENETDOWN as i32))
}

/// A full memory barrier between CPUs (`smp_mb`).
#[inline(always)]
pub(crate) fn smp_mb() {
    #[cfg(not(compsc_linux_7_2))]
    kernel::sync::barrier::smp_mb(kernel::sync::barrier::Full);
    #[cfg(compsc_linux_7_2)]
    kernel::sync::barrier::smp_mb();
}

/// Orders reads of memory the device wrote (`dma_rmb`); 7.2's Rust has no DMA barriers.
#[inline(always)]
pub(crate) fn dma_rmb() {
    #[cfg(not(compsc_linux_7_2))]
    kernel::sync::barrier::dma_mb(kernel::sync::barrier::Read);
    #[cfg(compsc_linux_7_2)]
    crate::shim::dma_rmb();
}

/// The bus address of a coherent allocation (7.2 calls it the handle).
pub(crate) fn bus_of<T: kernel::transmute::AsBytes + kernel::transmute::FromBytes>(
    c: &kernel::dma::Coherent<T>,
) -> u64 {
    #[cfg(not(compsc_linux_7_2))]
    return c.dma_address();
    #[cfg(compsc_linux_7_2)]
    return c.dma_handle();
}

#[cfg(not(compsc_linux_7_2))]
pub(crate) use kernel::{new_spinlock_irq, sync::SpinLockIrq};

/// 7.2 has no interrupt-disabling spinlock: a spinlock taken with local interrupts saved
/// and disabled, restored after it is released.
#[cfg(compsc_linux_7_2)]
#[pin_data]
pub(crate) struct SpinLockIrq<T> {
    #[pin]
    inner: kernel::sync::SpinLock<T>,
}

#[cfg(compsc_linux_7_2)]
impl<T> SpinLockIrq<T> {
    /// Wraps a spinlock being initialised.
    pub(crate) fn wrap(inner: impl PinInit<kernel::sync::SpinLock<T>>) -> impl PinInit<Self> {
        pin_init!(Self { inner <- inner })
    }

    /// Takes the lock with local interrupts disabled.
    pub(crate) fn lock(&self) -> IrqGuard<'_, T> {
        let irq = IrqOff(crate::shim::irq_save());
        IrqGuard {
            guard: self.inner.lock(),
            _irq: irq,
        }
    }
}

/// A held [`SpinLockIrq`]; fields drop in order: unlock, then restore interrupts.
#[cfg(compsc_linux_7_2)]
pub(crate) struct IrqGuard<'a, T> {
    guard: kernel::sync::SpinLockGuard<'a, T>,
    _irq: IrqOff,
}

#[cfg(compsc_linux_7_2)]
impl<T> core::ops::Deref for IrqGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

#[cfg(compsc_linux_7_2)]
impl<T: Unpin> core::ops::DerefMut for IrqGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

/// Saved interrupt flags, restored on drop.
#[cfg(compsc_linux_7_2)]
struct IrqOff(usize);

#[cfg(compsc_linux_7_2)]
impl Drop for IrqOff {
    fn drop(&mut self) {
        crate::shim::irq_restore(self.0);
    }
}

/// `new_spinlock_irq!` for 7.2.
#[cfg(compsc_linux_7_2)]
macro_rules! new_spinlock_irq {
    ($v:expr) => {
        $crate::compat::SpinLockIrq::wrap(kernel::new_spinlock!($v))
    };
}
#[cfg(compsc_linux_7_2)]
pub(crate) use new_spinlock_irq;

/// The device's MSI-X vectors, freed on drop.
#[cfg(not(compsc_linux_7_2))]
pub(crate) type Vectors<'b> = pci::IrqVectorRegistration<'b>;
/// A vector's registered handler, freed (after running handlers finish) on drop.
#[cfg(not(compsc_linux_7_2))]
pub(crate) type IrqRegistration<'b> = kernel::irq::Registration<'b, VectorIrq>;

/// Allocates exactly `n` MSI-X vectors.
#[cfg(not(compsc_linux_7_2))]
pub(crate) fn alloc_vectors<'b>(pdev: &'b pci::Device<Bound>, n: u32) -> Result<Vectors<'b>> {
    pdev.alloc_irq_vectors(n, n, pci::IrqTypes::default().with(pci::IrqType::MsiX))
}

/// Registers `handler` on vector `i` of `vectors` under `name`.
///
/// # Safety
///
/// The registration must not be forgotten: its drop frees the interrupt.
#[cfg(not(compsc_linux_7_2))]
pub(crate) unsafe fn request_irq<'b>(
    vectors: &'b Vectors<'b>,
    i: usize,
    name: &'static CStr,
    handler: impl PinInit<VectorIrq, Error> + 'b,
) -> impl PinInit<IrqRegistration<'b>, Error> + 'b {
    pin_init::pin_init_scope(move || {
        // SAFETY: passed on to the caller.
        Ok(unsafe {
            kernel::irq::Registration::new(
                vectors.index(i)?.into(),
                kernel::irq::Flags::TRIGGER_NONE,
                name,
                handler,
            )
        })
    })
}

#[cfg(not(compsc_linux_7_2))]
impl kernel::irq::Handler for VectorIrq {
    fn handle(&self) -> kernel::irq::IrqReturn {
        if self.on_irq() {
            kernel::irq::IrqReturn::Handled
        } else {
            kernel::irq::IrqReturn::None
        }
    }
}

/// 7.2's Rust PCI API hands out vectors as a first..=last range only, so the middle one of
/// three cannot be requested: on 7.2 vectors and handlers go through the shim.
#[cfg(compsc_linux_7_2)]
pub(crate) struct Vectors<'b> {
    pdev: &'b pci::Device<Bound>,
}

#[cfg(compsc_linux_7_2)]
impl Drop for Vectors<'_> {
    fn drop(&mut self) {
        crate::shim::free_vectors(self.pdev);
    }
}

#[cfg(compsc_linux_7_2)]
pub(crate) fn alloc_vectors<'b>(pdev: &'b pci::Device<Bound>, n: u32) -> Result<Vectors<'b>> {
    crate::shim::alloc_vectors(pdev, n)?;
    Ok(Vectors { pdev })
}

/// A handler registered on one vector through the shim.
#[cfg(compsc_linux_7_2)]
#[pin_data(PinnedDrop)]
pub(crate) struct IrqRegistration<'b> {
    #[pin]
    handler: VectorIrq,
    irq: u32,
    _vectors: core::marker::PhantomData<&'b ()>,
    #[pin]
    _pin: core::marker::PhantomPinned,
}

/// Registers `handler` on vector `i` through the shim.
///
/// # Safety
///
/// The registration must not be forgotten: its drop frees the interrupt.
#[cfg(compsc_linux_7_2)]
pub(crate) unsafe fn request_irq<'b>(
    vectors: &'b Vectors<'b>,
    i: usize,
    name: &'static CStr,
    handler: impl PinInit<VectorIrq, Error> + 'b,
) -> impl PinInit<IrqRegistration<'b>, Error> + 'b {
    let pdev = vectors.pdev;
    try_pin_init!(&this in IrqRegistration {
        handler <- handler,
        // SAFETY: `handler` is initialised and pinned; it stays valid until PinnedDrop frees
        // the interrupt.
        irq: crate::shim::request_vector(pdev, u32::try_from(i)?, name, unsafe {
            &raw const (*this.as_ptr()).handler
        })?,
        _vectors: core::marker::PhantomData,
        _pin: core::marker::PhantomPinned,
    })
}

#[cfg(compsc_linux_7_2)]
#[pinned_drop]
impl PinnedDrop for IrqRegistration<'_> {
    fn drop(self: Pin<&mut Self>) {
        crate::shim::free_vector(self.irq, &raw const self.handler);
    }
}

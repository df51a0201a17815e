//! Guest memory as the device sees it: a small trait, a bounds-checked mapping of the
//! regions QEMU shares over vfio-user, and a Vec-backed memory for unit tests.
//!
//! Every access names a guest-physical address and a length. An access that leaves the
//! mapped regions, or whose end overflows, fails as a whole with nothing copied: the
//! engines log it and drop the packet, never touch memory outside the mapping.

use std::fmt;
use std::fs::File;
use std::os::fd::AsRawFd;

/// Why a DMA access was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaError {
    /// Some byte of `[addr, addr + len)` is not in guest RAM as mapped.
    Unmapped {
        /// Start of the refused access.
        addr: u64,
        /// Its length.
        len: usize,
    },
    /// `addr + len` overflows 64 bits.
    Overflow {
        /// Start of the refused access.
        addr: u64,
        /// Its length.
        len: usize,
    },
}

impl fmt::Display for DmaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DmaError::Unmapped { addr, len } => {
                write!(f, "DMA of {len} bytes at {addr:#x} leaves guest RAM")
            }
            DmaError::Overflow { addr, len } => {
                write!(
                    f,
                    "DMA of {len} bytes at {addr:#x} overflows the address space"
                )
            }
        }
    }
}

impl std::error::Error for DmaError {}

/// Device-side access to guest-physical memory.
pub trait GuestMemory: Send {
    /// Copies `buf.len()` bytes from guest address `addr`.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), DmaError>;
    /// Copies `data` to guest address `addr`.
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), DmaError>;
    /// Maps `len` bytes of `fd` at `offset` as guest addresses `[iova, iova+len)`, for
    /// memories a transport can extend; others refuse.
    fn map(&mut self, iova: u64, len: u64, fd: &File, offset: u64) -> std::io::Result<()> {
        let _ = (iova, len, fd, offset);
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "this guest memory cannot map",
        ))
    }
    /// Removes mappings inside `[iova, iova+len)`; returns how many.
    fn unmap(&mut self, iova: u64, len: u64) -> usize {
        let _ = (iova, len);
        0
    }
    /// Removes every mapping; returns how many.
    fn unmap_all(&mut self) -> usize {
        0
    }
}

/// Reads a little-endian u64 at `addr`.
pub fn read_u64(mem: &dyn GuestMemory, addr: u64) -> Result<u64, DmaError> {
    let mut b = [0u8; 8];
    mem.read(addr, &mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn end_of(addr: u64, len: usize) -> Result<u64, DmaError> {
    addr.checked_add(len as u64)
        .ok_or(DmaError::Overflow { addr, len })
}

/// A flat memory at `base`, for tests.
pub struct VecMemory {
    base: u64,
    data: Vec<u8>,
}

impl VecMemory {
    /// A zeroed memory of `size` bytes starting at guest address `base`.
    pub fn new(base: u64, size: usize) -> Self {
        VecMemory {
            base,
            data: vec![0; size],
        }
    }

    fn range(&self, addr: u64, len: usize) -> Result<std::ops::Range<usize>, DmaError> {
        let end = end_of(addr, len)?;
        if addr < self.base || end > self.base + self.data.len() as u64 {
            return Err(DmaError::Unmapped { addr, len });
        }
        // CAST: both bounds are inside `data`, whose length fits usize.
        let start = (addr - self.base) as usize;
        Ok(start..start + len)
    }
}

impl GuestMemory for VecMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), DmaError> {
        let r = self.range(addr, buf.len())?;
        buf.copy_from_slice(&self.data[r]);
        Ok(())
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), DmaError> {
        let r = self.range(addr, data.len())?;
        self.data[r].copy_from_slice(data);
        Ok(())
    }
}

/// One guest RAM section mapped from the file descriptor QEMU passed with DMA_MAP.
struct Region {
    iova: u64,
    len: u64,
    ptr: *mut u8,
}

// SAFETY: `ptr` points to a MAP_SHARED mapping owned by this Region; nothing ties it to a
// thread, and `MappedMemory` is only reached through `&mut`/`&` under the device lock.
unsafe impl Send for Region {}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned in `MappedMemory::map`, and the
        // region is dropped once.
        unsafe {
            libc::munmap(self.ptr.cast(), self.len as usize);
        }
    }
}

/// Guest RAM as a set of shared mappings, keyed by guest-physical (IOVA) address.
#[derive(Default)]
pub struct MappedMemory {
    regions: Vec<Region>,
}

impl MappedMemory {
    /// An empty mapping: every access fails until QEMU maps RAM.
    pub fn new() -> Self {
        Self::default()
    }

    fn map_region(&mut self, iova: u64, len: u64, fd: &File, offset: u64) -> std::io::Result<()> {
        if len == 0 || iova.checked_add(len).is_none() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("DMA_MAP of {len:#x} bytes at {iova:#x} is not a valid range"),
            ));
        }
        if self
            .regions
            .iter()
            .any(|r| iova < r.iova + r.len && r.iova < iova + len)
        {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("DMA_MAP at {iova:#x}+{len:#x} overlaps an existing mapping"),
            ));
        }
        let off = libc::off_t::try_from(offset).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "DMA_MAP offset too large")
        })?;
        // SAFETY: a fresh shared mapping of a file QEMU handed us; the kernel checks the fd,
        // length and offset, and we never assume anything about its contents.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                off,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        self.regions.push(Region {
            iova,
            len,
            ptr: ptr.cast(),
        });
        Ok(())
    }

    /// Splits `[addr, addr+len)` into (region pointer, offset, chunk length) pieces, or fails
    /// if any byte is unmapped.
    fn walk(&self, addr: u64, len: usize) -> Result<Vec<(*mut u8, usize, usize)>, DmaError> {
        end_of(addr, len)?;
        let mut out = Vec::with_capacity(1);
        let mut cur = addr;
        let mut left = len as u64;
        while left > 0 {
            let r = self
                .regions
                .iter()
                .find(|r| cur >= r.iova && cur < r.iova + r.len)
                .ok_or(DmaError::Unmapped { addr, len })?;
            let n = left.min(r.iova + r.len - cur);
            // CAST: offsets and chunk lengths are bounded by the region length, a usize.
            out.push((r.ptr, (cur - r.iova) as usize, n as usize));
            cur += n;
            left -= n;
        }
        Ok(out)
    }
}

impl GuestMemory for MappedMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), DmaError> {
        let mut done = 0;
        for (ptr, off, n) in self.walk(addr, buf.len())? {
            // SAFETY: `walk` checked that `[off, off+n)` lies inside this live mapping. The
            // guest may write the same bytes concurrently, as with real DMA; we copy plain
            // bytes and give them no meaning until they are decoded.
            unsafe { std::ptr::copy_nonoverlapping(ptr.add(off), buf[done..].as_mut_ptr(), n) };
            done += n;
        }
        Ok(())
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), DmaError> {
        let mut done = 0;
        for (ptr, off, n) in self.walk(addr, data.len())? {
            // SAFETY: as in `read`: the range is inside the mapping, checked by `walk`.
            unsafe { std::ptr::copy_nonoverlapping(data[done..].as_ptr(), ptr.add(off), n) };
            done += n;
        }
        Ok(())
    }

    fn map(&mut self, iova: u64, len: u64, fd: &File, offset: u64) -> std::io::Result<()> {
        self.map_region(iova, len, fd, offset)
    }

    /// Removes every region that lies inside `[iova, iova+len)`.
    fn unmap(&mut self, iova: u64, len: u64) -> usize {
        let end = iova.saturating_add(len);
        let before = self.regions.len();
        self.regions
            .retain(|r| !(r.iova >= iova && r.iova + r.len <= end));
        before - self.regions.len()
    }

    fn unmap_all(&mut self) -> usize {
        let n = self.regions.len();
        self.regions.clear();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn vec_memory_bounds() {
        let mut m = VecMemory::new(0x1000, 0x100);
        m.write(0x1000, &[1, 2, 3]).unwrap();
        let mut b = [0u8; 3];
        m.read(0x1000, &mut b).unwrap();
        assert_eq!(b, [1, 2, 3]);
        assert!(m.read(0xFFF, &mut b).is_err());
        assert!(m.write(0x10FE, &[0; 3]).is_err());
        assert_eq!(
            m.read(u64::MAX - 1, &mut b),
            Err(DmaError::Overflow {
                addr: u64::MAX - 1,
                len: 3
            })
        );
    }

    fn memfd(size: usize) -> File {
        // SAFETY: memfd_create with a static NUL-terminated name.
        let fd = unsafe { libc::memfd_create(c"vfm-test".as_ptr(), 0) };
        assert!(fd >= 0);
        // SAFETY: `fd` is a fresh descriptor we own.
        let mut f = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        f.write_all(&vec![0u8; size]).unwrap();
        f
    }

    #[test]
    fn mapped_memory_spans_regions_and_refuses_holes() {
        let f = memfd(0x3000);
        let mut m = MappedMemory::new();
        m.map(0x10000, 0x1000, &f, 0).unwrap();
        m.map(0x11000, 0x1000, &f, 0x1000).unwrap();
        m.map(0x20000, 0x1000, &f, 0x2000).unwrap();
        assert!(m.map(0x10800, 0x1000, &f, 0).is_err(), "overlap refused");
        // A write straddling the two adjacent regions lands in both.
        m.write(0x10FFE, &[9, 8, 7, 6]).unwrap();
        let mut b = [0u8; 4];
        m.read(0x10FFE, &mut b).unwrap();
        assert_eq!(b, [9, 8, 7, 6]);
        // A hole between 0x12000 and 0x20000 fails the whole access.
        assert!(m.write(0x11FFF, &[1, 2]).is_err());
        assert!(m.read(0x30000, &mut b).is_err());
        assert_eq!(m.unmap(0x10000, 0x2000), 2);
        assert!(m.read(0x10FFE, &mut b).is_err());
        assert_eq!(m.unmap_all(), 1);
    }
}

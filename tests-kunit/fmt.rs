// SPDX-License-Identifier: GPL-2.0

//! The driver's printing of PF-provided values, through the kernel's formatting machinery.

#[kernel::prelude::kunit_tests(compsc_vf_fmt)]
mod tests {
    use crate::compsc_core::mbx::{ApiVersion, MacAddr};
    use crate::fmt::{Api, Mac};
    use core::fmt::Write;
    use kernel::fmt::Adapter;

    /// A fixed buffer to format into: no allocation in the test either.
    struct Buf {
        bytes: [u8; 48],
        len: usize,
    }

    impl Write for Buf {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            let end = self.len.checked_add(s.len()).ok_or(core::fmt::Error)?;
            let dst = self.bytes.get_mut(self.len..end).ok_or(core::fmt::Error)?;
            dst.copy_from_slice(s.as_bytes());
            self.len = end;
            Ok(())
        }
    }

    fn show(args: core::fmt::Arguments<'_>) -> Buf {
        let mut b = Buf {
            bytes: [0; 48],
            len: 0,
        };
        let _ = b.write_fmt(args);
        b
    }

    fn text(b: &Buf) -> &[u8] {
        b.bytes.get(..b.len).unwrap_or_default()
    }

    #[test]
    fn mac_is_colon_separated_lowercase_hex() {
        let b = show(format_args!(
            "{}",
            Adapter(&Mac(MacAddr([0x02, 0, 0, 0xe2, 0xe0, 0x01])))
        ));
        assert_eq!(text(&b), b"02:00:00:e2:e0:01");
        let b = show(format_args!("{}", Adapter(&Mac(MacAddr([0xff; 6])))));
        assert_eq!(text(&b), b"ff:ff:ff:ff:ff:ff");
    }

    #[test]
    fn api_is_major_dot_minor() {
        for (api, want) in [
            (ApiVersion::V1_0, &b"1.0"[..]),
            (ApiVersion::V1_1, b"1.1"),
            (ApiVersion::V1_3, b"1.3"),
            (ApiVersion::V1_7, b"1.7"),
        ] {
            let b = show(format_args!("{}", Adapter(&Api(api))));
            assert_eq!(text(&b), want);
        }
    }
}

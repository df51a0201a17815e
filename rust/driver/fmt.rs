// SPDX-License-Identifier: GPL-2.0

//! How the driver prints what it learned from the PF: `02:00:00:e2:e0:01`, `1.7`.

use crate::compsc_core::mbx::{ApiVersion, MacAddr};
use kernel::fmt::{Display, Formatter, Result};

/// A MAC address as six colon-separated hex bytes (what `%pM` prints in C).
pub(crate) struct Mac(pub(crate) MacAddr);

impl Display for Mac {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        let [a, b, c, d, e, g] = self.0 .0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// A mailbox API version as `major.minor`; the minor is the version's rank in the
/// negotiation order, so the core's list stays the only list.
pub(crate) struct Api(pub(crate) ApiVersion);

impl Display for Api {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        let order = ApiVersion::NEGOTIATION_ORDER;
        match order.iter().position(|v| *v == self.0) {
            Some(newest_first) => {
                let minor = order.len().saturating_sub(1).saturating_sub(newest_first);
                write!(f, "1.{minor}")
            }
            None => write!(f, "{:?}", self.0),
        }
    }
}

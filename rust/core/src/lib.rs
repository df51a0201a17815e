//! CompSC core: the decisions of compsc_vf, free of I/O.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

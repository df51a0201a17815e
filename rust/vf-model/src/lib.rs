//! An emulated 82599 virtual function and its physical-function mailbox peer.
